// Reading a photo into RGBA pixels as Pillow reads it (preprocess/images.py), and writing pixels as a PNG
// byte for byte. The browser's canvas stores colours premultiplied by alpha, so semi-transparent pixels
// would come back rounded: PNGs (where soft alpha lives: a face and its mask) are decoded here instead.

/** {data: RGBA Uint8ClampedArray, width, height, channels: 4} of an image file or blob. */
export async function decodeImage(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  const png = PNG_SIGNATURE.every((b, i) => bytes[i] === b) ? await decodePng(bytes) : null;
  return png || decodeWithBrowser(blob);
}

async function decodeWithBrowser(blob) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none',
      imageOrientation: 'from-image' });
  } catch {
    throw new TypeError('this file is not an image the browser can read (PNG, JPEG, WebP, BMP, GIF)');
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return { data, width: canvas.width, height: canvas.height, channels: 4 };
}

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

async function inflate(parts) {
  const stream = new Blob(parts).stream().pipeThrough(new DecompressionStream('deflate'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** RGBA of a PNG as Pillow converts it (16 bits: the high byte; grey below 8 bits scaled to 0..255; a tRNS
 * colour of a grey or RGB image ignored, as images.read_rgb does), or null for the forms left to the
 * browser (interlaced, 16-bit grey) or a broken file. */
async function decodePng(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header = null;
  let palette = null;
  let transparency = null;
  const idat = [];
  for (let at = 8; at + 12 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    const body = bytes.subarray(at + 8, at + 8 + length);
    if (type === 'IHDR') {
      header = { width: view.getUint32(at + 8), height: view.getUint32(at + 12), depth: body[8], colour: body[9],
        interlace: body[12] };
    } else if (type === 'PLTE') palette = body;
    else if (type === 'tRNS') transparency = body;
    else if (type === 'IDAT') idat.push(body);
    else if (type === 'IEND') break;
    at += 12 + length;
  }
  if (!header || header.interlace || !idat.length) return null;
  const { width, height, depth, colour } = header;
  const channels = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 }[colour];
  if (!channels || (depth === 16 && colour === 0) || (colour === 3 && !palette)) return null;
  let raw;
  try {
    raw = await inflate(idat);
  } catch {
    return null;
  }
  const bpp = Math.max(1, (channels * depth) >> 3);
  const stride = Math.ceil((width * channels * depth) / 8);
  if (raw.length < (stride + 1) * height) return null;
  const rows = unfilter(raw, stride, bpp, height);
  const data = new Uint8ClampedArray(width * height * 4);
  const sample = (row, index) => { // the index-th sample of a row, as 8 bits (16 bits: the high byte)
    if (depth === 8) return row[index];
    if (depth === 16) return row[index * 2];
    const bit = index * depth;
    return (row[bit >> 3] >> (8 - depth - (bit & 7))) & ((1 << depth) - 1);
  };
  const scale = colour === 0 && depth < 8 ? 255 / ((1 << depth) - 1) : 1;
  for (let y = 0; y < height; y++) {
    const row = rows.subarray(y * stride, (y + 1) * stride);
    for (let x = 0; x < width; x++) {
      const out = (y * width + x) * 4;
      if (colour === 3) {
        const index = sample(row, x);
        data.set(palette.subarray(index * 3, index * 3 + 3), out);
        data[out + 3] = transparency && index < transparency.length ? transparency[index] : 255;
      } else {
        const first = x * channels;
        const grey = channels <= 2;
        data[out] = sample(row, first) * scale;
        data[out + 1] = grey ? data[out] : sample(row, first + 1);
        data[out + 2] = grey ? data[out] : sample(row, first + 2);
        data[out + 3] = channels === 2 || channels === 4 ? sample(row, first + channels - 1) : 255;
      }
    }
  }
  return { data, width, height, channels: 4 };
}

function unfilter(raw, stride, bpp, height) {
  const rows = new Uint8Array(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = y * stride;
    for (let i = 0; i < stride; i++) {
      const left = i >= bpp ? rows[out + i - bpp] : 0;
      const up = y > 0 ? rows[out - stride + i] : 0;
      const corner = y > 0 && i >= bpp ? rows[out - stride + i - bpp] : 0;
      let predicted = 0;
      if (filter === 1) predicted = left;
      else if (filter === 2) predicted = up;
      else if (filter === 3) predicted = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - corner;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - corner)];
        predicted = pa <= pb && pa <= pc ? left : pb <= pc ? up : corner;
      }
      rows[out + i] = (line[i] + predicted) & 0xff;
    }
  }
  return rows;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, body) {
  const out = new Uint8Array(12 + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, body.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(body, 8);
  view.setUint32(8 + body.length, crc32(out.subarray(4, 8 + body.length)));
  return out;
}

/** A PNG Blob of {data, width, height, channels} (1 grey, 3 RGB, 4 RGBA; 8 bits). */
export async function encodePng({ data, width, height, channels }) {
  const colourType = { 1: 0, 3: 2, 4: 6 }[channels];
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height); // each row: filter type 0, then its bytes
  for (let y = 0; y < height; y++) raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const deflated = new Uint8Array(await new Response(
    new Blob([raw]).stream().pipeThrough(new CompressionStream('deflate'))).arrayBuffer());
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, colourType, 0, 0, 0], 8);
  const signature = new Uint8Array(PNG_SIGNATURE);
  return new Blob([signature, chunk('IHDR', header), chunk('IDAT', deflated), chunk('IEND', new Uint8Array(0))],
    { type: 'image/png' });
}
