// specc-npz.js: a weights .npz written in JavaScript, for specc-train.js's saveWeights().
// An .npz is a zip archive (here stored, not compressed) of .npy files, one per key; numpy,
// `specc build --weights` and `specc train --weights` read it. Written by
// `specc export --target web --with-training`.

// numpy's dtype descriptors (little-endian) of the tensor types a state holds.
const DESCRIPTORS = { float32: '<f4', int32: '<i4', int64: '<i8', bool: '|b1' };

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 (zip's, IEEE 802.3) of `bytes`. */
export function crc32(bytes) {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** The bytes of a version 1.0 .npy file holding `tensor` ({type, data, dims}). */
export function npy(tensor) {
  const descr = DESCRIPTORS[tensor.type];
  if (!descr) throw new Error(`cannot save a ${tensor.type} tensor in a .npy file`);
  const dims = Array.from(tensor.dims, Number);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  // Magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64, as numpy writes.
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const data = new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength);
  const out = new Uint8Array(10 + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(new TextEncoder().encode(header), 10);
  out.set(data, 10 + header.length);
  return out;
}

/** A stored (uncompressed) zip archive of `files` ([{name, bytes}]). */
export function zip(files) {
  const encoder = new TextEncoder();
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const { name, bytes } of files) {
    const encoded = encoder.encode(name);
    const crc = crc32(bytes);
    if (bytes.length >= 0xffffffff || offset >= 0xffffffff) throw new Error('weights too large for a zip without ZIP64');
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true); // local file header
    local.setUint16(4, 20, true); // version needed
    local.setUint16(8, 0, true); // stored
    local.setUint16(12, 0x21, true); // date: 1980-01-01
    local.setUint32(14, crc, true);
    local.setUint32(18, bytes.length, true);
    local.setUint32(22, bytes.length, true);
    local.setUint16(26, encoded.length, true);
    const central = new DataView(new ArrayBuffer(46));
    central.setUint32(0, 0x02014b50, true); // central directory header
    central.setUint16(4, 20, true);
    central.setUint16(6, 20, true);
    central.setUint16(14, 0x21, true);
    central.setUint32(16, crc, true);
    central.setUint32(20, bytes.length, true);
    central.setUint32(24, bytes.length, true);
    central.setUint16(28, encoded.length, true);
    central.setUint32(42, offset, true);
    locals.push(new Uint8Array(local.buffer), encoded, bytes);
    centrals.push(new Uint8Array(central.buffer), encoded);
    offset += 30 + encoded.length + bytes.length;
  }
  const directory = centrals.reduce((n, part) => n + part.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true); // end of central directory
  end.setUint16(8, files.length, true);
  end.setUint16(10, files.length, true);
  end.setUint32(12, directory, true);
  end.setUint32(16, offset, true);
  const parts = [...locals, ...centrals, new Uint8Array(end.buffer)];
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A weights .npz of `weights` ([{key, tensor}]): `<key>.npy` members, as numpy.savez names them. */
export function weightsNpz(weights) {
  if (weights.length > 0xffff) throw new Error('too many weights for a zip without ZIP64');
  return zip(weights.map(({ key, tensor }) => ({ name: `${key}.npy`, bytes: npy(tensor) })));
}
