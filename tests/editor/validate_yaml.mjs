// Parses specs with the `yaml` package (YAML 1.2 core schema, as yaml-language-server
// does) and validates them against specc's JSON Schema with Ajv (draft-07).
//
//   node validate_yaml.mjs SCHEMA SPEC...
//
// Output: {"<spec path>": [problem, ...]} as JSON, an empty list for a valid spec.
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import { parseDocument } from "yaml";

const [schemaPath, ...specs] = process.argv.slice(2);
// Strict about the schema itself (an unknown keyword is a schema bug: a bound no validator
// would check), not about draft-07's loose typing of subschemas.
const ajv = new Ajv({ allErrors: true, strict: false, strictSchema: true });
// VS Code's keyword for documenting enum values (shown in completion lists).
ajv.addKeyword("enumDescriptions");
const validate = ajv.compile(JSON.parse(readFileSync(schemaPath, "utf8")));
const result = {};
for (const spec of specs) {
  const document = parseDocument(readFileSync(spec, "utf8"), { version: "1.2" });
  if (document.errors.length > 0) {
    result[spec] = document.errors.map((error) => `YAML: ${error.message}`);
  } else if (validate(document.toJS())) {
    result[spec] = [];
  } else {
    result[spec] = validate.errors.map((error) => `${error.instancePath} ${error.message}`);
  }
}
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
