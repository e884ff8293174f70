// Attachments: client-side validation against the limits from `hello`, and privacy for photos
// (EXIF/GPS are dropped by re-encoding the pixels through a canvas).
import type { Limits } from './types';

/** A file ready to send; preview is a local object URL of an image or audio file. */
export interface Attachment { name: string; mimeType: string; content: string; size: number; preview?: string }

export const DEFAULT_LIMITS: Required<Limits> = { maxTextBytes: 64 * 1024, maxAttachmentBytes: 5 * 1024 * 1024, maxImageBytes: 5 * 1024 * 1024 };

const REENCODE = new Set(['image/jpeg', 'image/png', 'image/webp']);

export function textBytes(s: string): number { return new TextEncoder().encode(s).length; }

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Validate size against limits; returns an error message or null. */
export function checkSize(mimeType: string, size: number, limits: Limits): string | null {
  const l = { ...DEFAULT_LIMITS, ...limits };
  const max = mimeType.startsWith('image/') ? l.maxImageBytes : l.maxAttachmentBytes;
  return size > max ? `too large (${fmtBytes(size)}, limit ${fmtBytes(max)})` : null;
}

/** Re-encode a JPEG/PNG/WebP through a canvas so no metadata (EXIF, GPS) survives. */
export async function stripMetadata(file: Blob, type: string): Promise<Blob> {
  const bmp = await createImageBitmap(file, { imageOrientation: 'from-image' } as ImageBitmapOptions);
  try {
    const canvas = document.createElement('canvas');
    canvas.width = bmp.width;
    canvas.height = bmp.height;
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no canvas');
    ctx.drawImage(bmp, 0, 0);
    const out = await new Promise<Blob | null>((r) => canvas.toBlob(r, type, 0.92));
    if (!out) throw new Error('re-encode failed');
    return out;
  } finally { bmp.close(); }
}

export async function toBase64(b: Blob): Promise<string> {
  const buf = new Uint8Array(await b.arrayBuffer());
  let s = '';
  for (let i = 0; i < buf.length; i += 0x8000) s += String.fromCharCode(...buf.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Prepare a picked/pasted/dropped file, or throw an Error with a user-facing message. */
export async function prepare(file: File, limits: Limits): Promise<Attachment> {
  const type = file.type || 'application/octet-stream';
  const name = file.name || (type.startsWith('image/') ? 'image.' + type.split('/')[1] : 'file');
  let blob: Blob = file;
  if (REENCODE.has(type)) {
    try { blob = await stripMetadata(file, type); } catch {
      throw new Error(`${name}: could not read this image`);
    }
  }
  const err = checkSize(type, blob.size, limits);
  if (err) throw new Error(`${name}: ${err}`);
  return {
    name, mimeType: type, size: blob.size, content: await toBase64(blob),
    preview: type.startsWith('image/') || type.startsWith('audio/') ? URL.createObjectURL(blob) : undefined,
  };
}
