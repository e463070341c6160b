import type { ModelInfo } from '../../shared/protocol';
import type { LinkState } from './chat-socket';
import type { ChatMessage } from './chat-store';

export const DEFAULT_MAX_LENGTH = 4096;

export interface Notice {
  code: string;
  text: string;
}

export interface ChatView {
  token: string | null;
  link: LinkState;
  sessionId: string | null;
  sessionName: string;
  models: ModelInfo[];
  modelId: string | undefined;
  assistingAdmin: string | undefined;
  loading: boolean;
  adminTyping: boolean;
  helpRequested: boolean;
  notice: Notice | null;
  messages: ChatMessage[];
  maxLength: number;
  upload: { name: string; progress: number } | null;
  // a search hit's message, scrolled to once shown
  focusSeq?: number;
  // a takeover just ended: the user is asked to rate it (CSAT)
  csat?: { adminName: string };
}

// what the client keeps of the view itself: the rest is read from the token, the socket and the thread
export type ChatViewState = Omit<ChatView, 'messages' | 'link' | 'token' | 'sessionId'>;

export function initialView(): ChatViewState {
  return {
    sessionName: 'Chat',
    models: [],
    modelId: undefined,
    assistingAdmin: undefined,
    loading: false,
    adminTyping: false,
    helpRequested: false,
    notice: null,
    maxLength: DEFAULT_MAX_LENGTH,
    upload: null,
  };
}
