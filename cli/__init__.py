"""specc's command line, installed as ``specc.cli`` (one module per command)."""
