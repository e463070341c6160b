import { type LlmImage, type LlmImageType, type LlmMessage, LlmProviderError } from './llm-provider';

// Images per message we send at most: Dify's default `number_limits` for an app's Vision upload,
// above which Dify refuses the whole message.
export const DIFY_MAX_IMAGES = 3;

// How chat-messages names a file uploaded beforehand.
export interface DifyFile {
  type: 'image';
  transfer_method: 'local_file';
  upload_file_id: string;
}

// Dify tells a file's type by its name's extension, so every upload is named with the right one.
const EXTENSIONS: Record<LlmImageType, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

// Posts one multipart body to /files/upload with the request's signal and timeout.
export type UploadFile = (form: FormData, signal: AbortSignal) => Promise<Response>;

// The images to send with the message at `last`. Dify keeps the turns it saw (their images too) in
// its conversation, so only the turns from `from` (those it did not see, which go as a transcript
// naming their images, and the one being answered) bring theirs: the newest DIFY_MAX_IMAGES
// (FileContextService already sent no more than its own newest few), so a question about a picture
// another model saw is answered here too.
export function imagesToSend(messages: LlmMessage[], from: number, last: number): LlmImage[] {
  if (last < 0) return [];
  const turns = messages.slice(Math.max(0, Math.min(from, last)), last + 1);
  return turns
    .flatMap((message) => (message.role === 'user' ? (message.images ?? []) : []))
    .slice(-DIFY_MAX_IMAGES);
}

// Uploads the images side by side; the first failure cancels the rest and is what the caller sees.
export async function uploadImages(
  images: LlmImage[],
  userId: string,
  signal: AbortSignal,
  upload: UploadFile,
): Promise<DifyFile[]> {
  if (images.length === 0) return [];
  const group = new AbortController();
  const shared = AbortSignal.any([signal, group.signal]);
  try {
    return await Promise.all(
      images.map((image, index) => uploadImage(image, `image-${index + 1}`, userId, shared, upload)),
    );
  } finally {
    // on success every upload is done and this is a no-op; on failure it stops the others
    group.abort();
  }
}

async function uploadImage(
  image: LlmImage,
  baseName: string,
  userId: string,
  signal: AbortSignal,
  upload: UploadFile,
): Promise<DifyFile> {
  const form = new FormData();
  const fileName = `${baseName}.${EXTENSIONS[image.mimeType]}`;
  form.append('file', new Blob([new Uint8Array(image.data)], { type: image.mimeType }), fileName);
  form.append('user', userId);
  const response = await upload(form, signal);
  let answer: unknown;
  try {
    answer = await response.json();
  } catch (error) {
    // an abort (a stop, the idle timeout) stays an abort for the caller to judge
    if (signal.aborted) throw error;
    throw new LlmProviderError('dify image upload: unreadable answer', true);
  }
  const id = typeof answer === 'object' && answer !== null ? (answer as { id?: unknown }).id : undefined;
  if (typeof id !== 'string' || id === '') throw new LlmProviderError('dify image upload: no file id', false);
  return { type: 'image', transfer_method: 'local_file', upload_file_id: id };
}
