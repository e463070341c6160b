// The emoji a message's tools offer as reactions: each is one the server takes as a reaction's
// content (isReactionEmoji, src/protocol/reaction-emoji.ts; reaction-picker.spec.ts holds them to it).
export const REACTION_PICKER: readonly string[] = ['👍', '❤️', '😂'];
