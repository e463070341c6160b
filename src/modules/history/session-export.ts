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
    // the files a reply brought (metadata.attachments): a kept one's link as `attachment`'s, a
    // vendor's link as it was given; dropped ones are not listed
    attachments?: ExportLink[];
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

// The files a message brought besides its own (a reply's images, speech, vendor files), as listed
// in `metadata.attachments`: kept ones (file_id) and external links; dropped ones have no file_url.
export function broughtFiles(
  message: MessageRecord,
): Array<{ file_id?: string; file_url: string; name?: string; kind?: string }> {
  const listed = message.metadata?.attachments;
  if (!Array.isArray(listed)) return [];
  return listed.filter(
    (entry): entry is { file_id?: string; file_url: string; name?: string; kind?: string } =>
      typeof entry === 'object' &&
      entry !== null &&
      typeof (entry as { file_url?: unknown }).file_url === 'string',
  );
}

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
      ...withAttachments(message, links),
      ...(message.metadata?.edit_of ? { edited: true } : {}),
    })),
  };
}

function withAttachments(
  message: MessageRecord,
  links: Map<string, ExportLink>,
): { attachments?: ExportLink[] } {
  const attachments: ExportLink[] = [];
  for (const file of broughtFiles(message)) {
    if (file.file_id !== undefined) {
      const link = links.get(file.file_id);
      if (link) attachments.push(link);
    } else attachments.push({ name: file.name ?? file.kind ?? 'file', url: file.file_url });
  }
  return attachments.length > 0 ? { attachments } : {};
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
    for (const attachment of [message.attachment, ...(message.attachments ?? [])])
      if (attachment)
        lines.push(
          `Attachment: [${escapeLinkText(attachment.name)}](<${attachment.url}>)` +
            (attachment.expires_at ? ` (link expires ${attachment.expires_at})` : ''),
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
