// What a person reads for each error code (CONTRACT §2); the server's own message is never shown
// raw, so a wording change or an unexpected detail there cannot leak into the UI.
const TEXTS: Record<string, string> = {
  UNAUTHORIZED: 'Your sign-in has expired. Please reopen the chat.',
  FORBIDDEN: 'You are not allowed to do that.',
  INVALID_MESSAGE: 'That message could not be sent.',
  MESSAGE_TOO_LONG: 'That message is too long. Please shorten it.',
  RATE_LIMITED: 'You are sending messages too quickly. Please wait a moment.',
  UNKNOWN_MODEL: 'That model is not available.',
  LLM_UNAVAILABLE: 'The assistant is unavailable right now. Please try again.',
  FILE_REJECTED: 'That file was rejected.',
  FILE_TOO_LARGE: 'That file is too large.',
  FILE_TYPE: 'That type of file is not allowed.',
  SESSION_LOCKED: 'Another admin is already assisting this conversation.',
  // the dashboard's own: an admin's message refused SESSION_LOCKED (the takeover ended: panel-frames.ts)
  TAKEOVER_ENDED: 'Your takeover has ended; this message was not sent.',
  SESSION_FULL: 'This conversation is full. Please start a new chat.',
  NOT_FOUND: 'That conversation was not found.',
  NOT_IMPLEMENTED: 'This feature is not available yet.',
  NOT_A_MEMBER: 'You are not a member of that room.',
  BANNED: 'You are banned from that room.',
  KICKED: 'You were removed from that room.',
  MUTED: 'You are muted in this room for now.',
  BLOCKED: 'This person does not accept your messages.',
  AI_OFF: 'The AI is turned off in this room.',
  AI_BUSY: 'The AI is still answering here. Ask again when it is done.',
  ALREADY_EXISTS: 'That name is already in use.',
  NETWORK: 'No connection. Please check your network.',
  // not an error: a notice of the chat's own (chat-client.ts openSession)
  UNSENT_KEPT:
    'A message you wrote in the conversation you left has not been sent yet. It will be sent when you open that conversation again.',
  INTERNAL: 'Something went wrong. Please try again.',
};

export function errorText(code: string | undefined): string {
  return (code && TEXTS[code]) || TEXTS.INTERNAL;
}

// HTTP status → code, for endpoints that answer before a JSON body exists (413/415 from a proxy)
export function codeOfStatus(status: number): string {
  switch (status) {
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'SESSION_LOCKED';
    case 413:
      return 'FILE_TOO_LARGE';
    case 415:
      return 'FILE_TYPE';
    case 422:
      return 'FILE_REJECTED';
    case 429:
      return 'RATE_LIMITED';
    case 501:
      return 'NOT_IMPLEMENTED';
    default:
      return 'INTERNAL';
  }
}
