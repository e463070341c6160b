// Dify's answer to a DELETE of a conversation it does not have (or not for this user)
const NOT_FOUND = 404;

// What DifyProvider.forget sends: a request to `path` with this JSON body, answering its Response (a
// 2xx, or a status in `accepted`), or failing with an LlmProviderError (DifyProvider's `send`).
export type DifySend = (path: string, body: string, accepted: readonly number[]) => Promise<Response>;

// Deletes the conversation Dify keeps for a purged session (docs/protocol.md, "Session library"):
// DELETE /conversations/:id with the end user it was held for (`user`, the session's owner, as every
// chat message to it names). Dify answers 204 (older versions 200 `{"result": "success"}`); a 404,
// it has it no more, is done too: a purge cut off after the delete asks again.
export async function deleteConversation(
  state: Record<string, unknown>,
  userId: string,
  send: DifySend,
): Promise<void> {
  const conversationId = state.conversation_id;
  if (typeof conversationId !== 'string' || conversationId === '') return;
  const response = await send(
    `/conversations/${encodeURIComponent(conversationId)}`,
    JSON.stringify({ user: userId }),
    [NOT_FOUND],
  );
  await response.body?.cancel().catch(() => undefined);
}
