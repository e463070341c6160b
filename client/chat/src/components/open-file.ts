type Tab = Pick<Window, 'opener' | 'location' | 'close'>;

export interface Opener {
  open(url: string, target: string, features?: string): Tab | null;
  location: Pick<Location, 'assign'>;
}

// Opens a file whose link is signed on click in a new tab. The tab is opened at once, in the click
// (popup blockers allow only that), but without 'noopener': with it window.open always returns
// null, and the page fell back to navigating itself away (the dashboard lost its admin socket).
// So the opener is cut by hand before the tab loads anything. Only http(s) links are followed: the
// blank tab shares this page's origin.
export function openSigned(win: Opener, sign: () => Promise<string>): void {
  const tab = win.open('', '_blank');
  if (tab) tab.opener = null;
  sign().then(
    (signed) => {
      if (!/^https?:/i.test(signed)) return tab?.close();
      if (tab) tab.location.href = signed;
      // only when the popup was blocked
      else win.location.assign(signed);
    },
    () => tab?.close(),
  );
}
