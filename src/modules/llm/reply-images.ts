const MAX_IMAGES = 8;
// ![alt](url) and ![alt](url "title"); the URL ends at whitespace or the closing parenthesis
const MARKDOWN_IMAGE =
  /!\[[^\]\n]{0,500}\]\(\s*<?(https?:\/\/[^\s)>]{1,2000})>?(?:\s+"[^"\n]{0,500}")?\s*\)/gi;

// Image URLs a model wrote into its reply as markdown images (DALL·E links, charts): http(s) only,
// each once, at most MAX_IMAGES, in order of appearance.
export function imageUrlsIn(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(MARKDOWN_IMAGE)) {
    let url: URL;
    try {
      url = new URL(match[1]);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') continue;
    const href = url.toString();
    if (!found.includes(href)) found.push(href);
    if (found.length >= MAX_IMAGES) break;
  }
  return found;
}
