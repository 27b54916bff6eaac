// The Python pipelines' pre- and post-processing (preprocess/u2net_io.py, u2net_tasks.py, cartoon.py),
// the same operations in the same order and the same precision, so that the page's results are test.py's.
//
// Images are {data, width, height, channels}: data a Uint8Array (or Uint8ClampedArray), rows of pixels,
// channels interleaved. float32 steps of the Python side go through Math.fround; float64 steps are plain
// JavaScript numbers.

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];
export const LARGE_SIDE = 4096; // above it the Python side shrinks with OpenCV first: not done here
const f32 = Math.fround;

// ---- scikit-image's resize(image, (size, size), mode='constant'): anti-aliasing Gaussian, then bilinear ----

// numpy's pairwise sum, for the few dozen numbers of a Gaussian kernel
function numpySum(values) {
  if (values.length < 8) return values.reduce((sum, v) => sum + v, 0);
  const r = values.slice(0, 8);
  const whole = values.length - (values.length % 8);
  for (let i = 8; i < whole; i += 8) for (let j = 0; j < 8; j++) r[j] += values[i + j];
  let sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
  for (let i = whole; i < values.length; i++) sum += values[i];
  return sum;
}

// scipy.ndimage's Gaussian weights: radius int(4 sigma + 0.5), exp(-x^2 / (2 sigma^2)), normalised
function gaussianKernel(sigma) {
  const radius = Math.trunc(4.0 * sigma + 0.5);
  const factor = -0.5 / (sigma * sigma);
  const phi = [];
  for (let x = -radius; x <= radius; x++) phi.push(Math.exp(factor * (x * x)));
  const total = numpySum(phi);
  return phi.map((v) => v / total);
}

// scipy's correlate1d with a symmetric kernel and zeros outside, along one axis of a float64 HxWxC array
function gaussianAlong(values, shape, axis, sigma) {
  const weights = gaussianKernel(sigma);
  const r = (weights.length - 1) / 2;
  const [h, w, c] = shape;
  const length = axis === 0 ? h : w;
  const step = axis === 0 ? w * c : c;
  const out = new Float64Array(values.length);
  const lines = axis === 0 ? w * c : h * c;
  for (let line = 0; line < lines; line++) {
    const start = axis === 0 ? line : Math.floor(line / c) * w * c + (line % c);
    for (let i = 0; i < length; i++) {
      const at = (k) => (k >= 0 && k < length ? values[start + k * step] : 0);
      let sum = at(i) * weights[r];
      for (let j = r; j > 0; j--) sum += (at(i - j) + at(i + j)) * weights[r - j];
      out[start + i * step] = sum;
    }
  }
  return out;
}

// scipy.ndimage.zoom(order=1, mode='grid-constant', grid_mode=True) in H and W: source coordinate
// (k + 0.5) * in / out - 0.5, zeros outside
function linearTaps(inSize, outSize) {
  const zoom = inSize / outSize;
  const taps = [];
  for (let k = 0; k < outSize; k++) {
    const cc = (k + 0.5) * zoom - 0.5;
    const start = Math.floor(cc);
    const t = cc - start;
    taps.push([start, 1 - t, start + 1, t]);
  }
  return taps;
}

function zoomLinear(values, shape, outH, outW) {
  const [h, w, c] = shape;
  if (h === outH && w === outW) return values; // scipy's early exit for a zoom of 1
  const rows = linearTaps(h, outH);
  const cols = linearTaps(w, outW);
  const out = new Float64Array(outH * outW * c);
  const at = (y, x, ch) => (y >= 0 && y < h && x >= 0 && x < w ? values[(y * w + x) * c + ch] : 0);
  for (let oy = 0; oy < outH; oy++) {
    const [y0, wy0, y1, wy1] = rows[oy];
    for (let ox = 0; ox < outW; ox++) {
      const [x0, wx0, x1, wx1] = cols[ox];
      for (let ch = 0; ch < c; ch++) {
        let sum = 0;
        sum += at(y0, x0, ch) * wy0 * wx0;
        sum += at(y0, x1, ch) * wy0 * wx1;
        sum += at(y1, x0, ch) * wy1 * wx0;
        sum += at(y1, x1, ch) * wy1 * wx1;
        out[(oy * outW + ox) * c + ch] = sum;
      }
    }
  }
  return out;
}

function minMax(values) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of values) {
    if (v < low) low = v;
    if (v > high) high = v;
  }
  return [low, high];
}

/** skimage.transform.resize(uint8 image, (outH, outW), mode='constant') as float64 in [0, 1], HxWxC. */
export function skimageResize(image, outH, outW) {
  const { width: w, height: h, channels: c } = image;
  let values = Float64Array.from(image.data, (v) => v / 255);
  const source = values;
  if (outH < h || outW < w) {
    // anti-aliasing: sigma = max(0, (in / out - 1) / 2) per axis, axes with sigma 0 left alone
    const sigmas = [Math.max(0, (h / outH - 1) / 2), Math.max(0, (w / outW - 1) / 2)];
    for (const axis of [0, 1]) if (sigmas[axis] > 1e-15) values = gaussianAlong(values, [h, w, c], axis, sigmas[axis]);
  }
  const out = zoomLinear(values, [h, w, c], outH, outW);
  // clipped to the input's range, widened to include 0 where the zeros outside reached the result
  let [low, high] = minMax(source);
  const [outLow, outHigh] = minMax(out);
  if (!(low <= 0 && 0 <= high) && outLow <= 0 && 0 <= outHigh) {
    low = Math.min(low, 0);
    high = Math.max(high, 0);
  }
  for (let i = 0; i < out.length; i++) out[i] = Math.min(Math.max(out[i], low), high);
  return out;
}

/** U^2-Net's input: (1, 3, size, size) float32 NCHW from an RGB(A) image (u2net_io.u2net_input). */
export function u2netInput(image, size) {
  if (Math.max(image.width, image.height) > LARGE_SIDE) {
    throw new RangeError(`the photo is ${image.width}x${image.height}; shrink it to at most ${LARGE_SIDE} pixels a side`);
  }
  const resized = skimageResize(rgbOf(image), size, size);
  let peak = 0;
  for (const v of resized) if (v > peak) peak = v;
  const plane = size * size;
  const x = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const v = peak > 0 ? resized[i * 3 + ch] / peak : resized[i * 3 + ch];
      x[ch * plane + i] = (v - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch];
    }
  }
  return x;
}

/** An RGB copy: transparency composited onto white as images.read_rgb does (float32, rounded half to even). */
export function rgbOf(image) {
  if (image.channels === 3) return image;
  const n = image.width * image.height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const alpha = f32(image.data[i * 4 + 3] / 255.0);
    for (let ch = 0; ch < 3; ch++) {
      data[i * 3 + ch] = roundHalfEven(f32(f32(image.data[i * 4 + ch] * alpha) + f32(255 * f32(1 - alpha))));
    }
  }
  return { data, width: image.width, height: image.height, channels: 3 };
}

function roundHalfEven(v) {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

// ---- the output side: normPRED, 8 bits as PIL truncates, PIL's bilinear resize back ----

/** (d - min) / (max - min) in float32 (a constant map becomes zeros); `invert` takes 1 - d first. */
export function normalizeMap(map, invert = false) {
  const values = invert ? map.map((v) => f32(1.0 - v)) : map;
  const [low, high] = minMax(values);
  const range = f32(high - low);
  return values.map((v) => (high > low ? f32(f32(v - low) / range) : 0));
}

/** A [0, 1] float32 map (size x size) as a grey image of outW x outH (u2net_io.to_grey). */
export function toGrey(map01, size, outW, outH) {
  const grey = new Uint8Array(size * size);
  for (let i = 0; i < grey.length; i++) grey[i] = Math.min(255, Math.max(0, Math.trunc(f32(map01[i] * 255))));
  return pilBilinear({ data: grey, width: size, height: size, channels: 1 }, outW, outH);
}

// Pillow's two-pass fixed-point resampling (libImaging/Resample.c), bilinear filter
const PRECISION_BITS = 32 - 8 - 2;

function pilCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = 1.0 * filterScale;
  const taps = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const weights = [];
    let total = 0.0;
    for (let x = 0; x < xmax; x++) {
      const w = Math.max(0, 1.0 - Math.abs((x + xmin - center + 0.5) * (1.0 / filterScale)));
      weights.push(w);
      total += w;
    }
    const fixed = weights.map((w) => {
      const v = total !== 0.0 ? w / total : w;
      return Math.trunc(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
    });
    taps.push([xmin, fixed]);
  }
  return taps;
}

function clip8(sum) {
  return Math.min(255, Math.max(0, Math.floor(sum / (1 << PRECISION_BITS))));
}

// rows firstRow .. firstRow + rows - 1 resampled to outW columns
function resamplePass(image, outW, firstRow, rows) {
  const { width: w, channels: c } = image;
  const taps = pilCoefficients(w, outW);
  const out = new Uint8Array(outW * rows * c);
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < outW; x++) {
      const [start, weights] = taps[x];
      for (let ch = 0; ch < c; ch++) {
        let sum = 1 << (PRECISION_BITS - 1);
        for (let k = 0; k < weights.length; k++) sum += image.data[((y + firstRow) * w + start + k) * c + ch] * weights[k];
        out[(y * outW + x) * c + ch] = clip8(sum);
      }
    }
  }
  return { data: out, width: outW, height: rows, channels: c };
}

/** PIL's Image.resize((outW, outH), Image.BILINEAR) of an 8-bit image. Pillow shrinks first: rows first
 * when the width grows and the height shrinks, columns first otherwise (measured on Pillow 13). */
export function pilBilinear(image, outW, outH) {
  if (image.width === outW && image.height === outH) return image;
  if (outW > image.width && outH < image.height) return horizontalOnly(verticalOnly(image, outH), outW);
  const rowTaps = pilCoefficients(image.height, outH);
  let current = image;
  let taps = rowTaps;
  if (outW !== image.width) {
    // only the rows the vertical pass reads
    const first = rowTaps[0][0];
    const last = rowTaps[outH - 1][0] + rowTaps[outH - 1][1].length;
    current = resamplePass(image, outW, first, last - first);
    taps = rowTaps.map(([start, weights]) => [start - first, weights]);
  }
  return outH !== image.height ? verticalPass(current, taps) : current;
}

function verticalOnly(image, outH) {
  return verticalPass(image, pilCoefficients(image.height, outH));
}

function horizontalOnly(image, outW) {
  return resamplePass(image, outW, 0, image.height);
}

function verticalPass(image, taps) {
  const { width: w, channels: c } = image;
  const out = new Uint8Array(w * taps.length * c);
  for (let y = 0; y < taps.length; y++) {
    const [start, weights] = taps[y];
    for (let i = 0; i < w * c; i++) {
      let sum = 1 << (PRECISION_BITS - 1);
      for (let k = 0; k < weights.length; k++) sum += image.data[(start + k) * w * c + i] * weights[k];
      out[y * w * c + i] = clip8(sum);
    }
  }
  return { data: out, width: w, height: taps.length, channels: c };
}

// ---- the U^2-Net tasks (u2net_tasks.py) ----

/** PortraitDrawing: 1 - d0, min-max, to grey at the photo's size. */
export function portraitOutput(d0, size, image) {
  return toGrey(normalizeMap(d0, true), size, image.width, image.height);
}

/** SalientObject: the d0 mask at the photo's size, as a mask, the photo on white, or the photo with it as alpha. */
export function maskOutput(d0, size, image, background) {
  const mask = toGrey(normalizeMap(d0), size, image.width, image.height);
  if (background === 'mask') return mask;
  const rgb = rgbOf(image);
  const n = image.width * image.height;
  const channels = background === 'transparent' ? 4 : 3;
  const data = new Uint8Array(n * channels);
  for (let i = 0; i < n; i++) {
    const alpha = f32(mask.data[i] / 255.0);
    for (let ch = 0; ch < 3; ch++) {
      data[i * channels + ch] = background === 'transparent' ? rgb.data[i * 3 + ch]
        : roundHalfEven(f32(f32(rgb.data[i * 3 + ch] * alpha) + f32(255.0 * f32(1.0 - alpha))));
    }
    if (channels === 4) data[i * 4 + 3] = mask.data[i];
  }
  return { data, width: image.width, height: image.height, channels };
}

// ---- photo2cartoon on an aligned face (cartoon.py: generator_input, cartoon_output) ----

/** (input (1, 3, size, size) float32 in [-1, 1] with the background white, mask in [0, 1] per pixel). */
export function generatorInput(face, size) {
  if (face.width !== size || face.height !== size) {
    throw new RangeError(`the cartoon model takes an aligned ${size}x${size} face (test.py --save_aligned makes one); ` +
      `this image is ${face.width}x${face.height}`);
  }
  const plane = size * size;
  const x = new Float32Array(3 * plane);
  const mask = new Float64Array(plane);
  for (let i = 0; i < plane; i++) {
    mask[i] = face.channels === 4 ? face.data[i * 4 + 3] / 255.0 : 1.0;
    for (let ch = 0; ch < 3; ch++) {
      const v = face.data[i * face.channels + ch];
      x[ch * plane + i] = (v * mask[i] + (1 - mask[i]) * 255) / 127.5 - 1;
    }
  }
  return { x, mask };
}

/** The generator's [-1, 1] CHW image as RGB, composited on white with the mask, truncated to 8 bits. */
export function cartoonOutput(generated, mask, size) {
  const plane = size * size;
  const data = new Uint8Array(plane * 3);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < 3; ch++) {
      const cartoon = f32(f32(generated[ch * plane + i] + 1) * 127.5);
      data[i * 3 + ch] = Math.trunc(cartoon * mask[i] + 255 * (1 - mask[i]));
    }
  }
  return { data, width: size, height: size, channels: 3 };
}
