// Text as people write it, for the benchmarks that store it (no imports: `node bench/x.ts` loads it
// as it is).

// Deterministic prose: `length` characters of words from a generated vocabulary of ~4,000 words with
// a skewed (Zipf-like) use, sentence-cased, in sentences of 6 to 18 words.
const SYLLABLES = [
  'ka',
  'lo',
  'mi',
  'ten',
  'ser',
  'vo',
  'ran',
  'di',
  'pe',
  'nu',
  'tor',
  'al',
  'ex',
  'im',
  'qua',
  'ly',
];
const VOCABULARY = Array.from({ length: 4096 }, (_, index) => {
  let word = '';
  for (let rest = index + 17; rest > 0; rest = Math.floor(rest / SYLLABLES.length))
    word += SYLLABLES[rest % SYLLABLES.length];
  return word;
});

export function prose(seed: number, length: number): string {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const sentences: string[] = [];
  let size = 0;
  while (size < length) {
    const words = Array.from(
      { length: 6 + Math.floor(next() * 13) },
      () => VOCABULARY[Math.floor(VOCABULARY.length * next() ** 3)],
    );
    const sentence = `${words.join(' ')}.`;
    sentences.push(sentence[0].toUpperCase() + sentence.slice(1));
    size += sentence.length + 1;
  }
  return sentences.join(' ').slice(0, length);
}
