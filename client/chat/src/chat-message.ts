// A message of the session's thread as the chat client shows it (ChatStore keeps them).
export type Sender = 'user' | 'ai' | 'admin' | 'system';

export interface Attachment {
  fileId?: string;
  url?: string;
  name?: string;
  mimeType?: string;
  size?: number;
  // a vendor's link rather than our stored file: opened, never fetched with the token
  external?: boolean;
  // 'tts' for the spoken version of an AI reply
  source?: string;
  // a file of the reply the server did not keep (docs/protocol.md, "Uploads and files"): why
  dropped?: string;
}

export interface ChatMessage {
  key: string;
  type: string;
  sender: Sender;
  content: string;
  id?: string;
  clientId?: string;
  seq?: number;
  timestamp?: string;
  modelId?: string;
  pending?: boolean;
  failed?: string;
  streaming?: boolean;
  stopped?: boolean;
  interrupted?: boolean;
  attachment?: Attachment;
  transcript?: string;
  // files of an AI reply (metadata.attachments), its spoken version among them
  attachments?: Attachment[];
  // edit_of, alternative_of, reply_id (docs/protocol.md, "Versions")
  metadata?: Record<string, unknown>;
  // a reply with alternatives: which one this is (0-based) and all their ids, oldest first
  alternatives?: { index: number; ids: string[] };
  // an edited message: the texts of every version, oldest first (this one is the last)
  versions?: string[];
}
