import { buildThread } from '../../protocol/thread';
import type { MessageRecord, SessionWithMessages } from '../sessions/session.types';

// `expires_at`: when a signed link expires; without it the link is the stable /chat/files/:id
export interface ExportLink {
  name: string;
  url: string;
  expires_at?: string;
}

// What a session export holds: the conversation as it reads now (latest versions, chosen replies),
// without events that are bookkeeping (reply choices). Plain data; the formats below render it.
export interface SessionExport {
  id: string;
  name: string;
  user_id: string;
  model_id: string;
  start_time: string;
  end_time: string | null;
  exported_at: string;
  messages: Array<{
    id: string;
    type: string;
    sender: string;
    timestamp: string;
    content?: string;
    model_id?: string;
    attachment?: ExportLink;
    edited?: boolean;
  }>;
}

const SHOWN = new Set([
  'user_message',
  'file_upload',
  'voice_message',
  'ai_response',
  'admin_join',
  'admin_leave',
  'help_request',
  'system_message',
]);

export function exportedMessages(session: SessionWithMessages): MessageRecord[] {
  return buildThread(session.messages).current.filter((message) => SHOWN.has(message.type));
}

export function toExport(
  session: SessionWithMessages,
  links: Map<string, ExportLink>,
  now: Date,
): SessionExport {
  return {
    id: session.id,
    name: session.name,
    user_id: session.user_id,
    model_id: session.model_id,
    start_time: session.start_time.toISOString(),
    end_time: session.end_time?.toISOString() ?? null,
    exported_at: now.toISOString(),
    messages: exportedMessages(session).map((message) => ({
      id: message.id,
      type: message.type,
      sender: message.sender,
      timestamp: message.timestamp.toISOString(),
      ...(message.content !== undefined ? { content: message.content } : {}),
      ...(message.model_id !== undefined ? { model_id: message.model_id } : {}),
      ...(message.file_id && links.has(message.file_id) ? { attachment: links.get(message.file_id) } : {}),
      ...(message.metadata?.edit_of ? { edited: true } : {}),
    })),
  };
}

const WHO: Record<string, string> = { user: 'You', ai: 'Assistant', admin: 'Admin', system: 'System' };

export function toMarkdown(data: SessionExport): string {
  const lines = [
    `# ${oneLine(data.name)}`,
    '',
    `- Session: ${data.id}`,
    `- Started: ${data.start_time}`,
    ...(data.end_time ? [`- Ended: ${data.end_time}`] : []),
    `- Exported: ${data.exported_at}`,
    '',
  ];
  for (const message of data.messages) {
    const who =
      message.type === 'ai_response' && message.model_id
        ? `Assistant (${message.model_id})`
        : (WHO[message.sender] ?? message.sender);
    lines.push(`## ${who} · ${message.timestamp}${message.edited ? ' · edited' : ''}`, '');
    if (message.type === 'admin_join' || message.type === 'admin_leave')
      lines.push(`_${message.type === 'admin_join' ? 'An admin joined' : 'The admin left'}_`, '');
    if (message.content) lines.push(message.content, '');
    if (message.attachment)
      lines.push(
        `Attachment: [${escapeLinkText(message.attachment.name)}](<${message.attachment.url}>)` +
          (message.attachment.expires_at ? ` (link expires ${message.attachment.expires_at})` : ''),
        '',
      );
  }
  return lines.join('\n');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function escapeLinkText(text: string): string {
  return oneLine(text).replace(/[[\]\\]/g, (character) => `\\${character}`);
}
