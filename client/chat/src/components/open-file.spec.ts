import { openSigned, type Opener } from './open-file';

describe(openSigned.name, () => {
  const flush = () => new Promise((settle) => setImmediate(settle));
  const browser = (popupBlocked = false) => {
    const tab = { opener: {} as unknown, location: { href: 'about:blank' }, close: jest.fn() };
    const win = {
      open: jest.fn((_url: string, _target: string, features?: string) =>
        // as browsers do: 'noopener' makes window.open return null
        popupBlocked || features?.includes('noopener') ? null : tab,
      ),
      location: { assign: jest.fn() },
    };
    return { tab, win };
  };

  it('should open the signed link in a new tab with no opener, leaving this page where it is', async () => {
    const { tab, win } = browser();
    openSigned(win as unknown as Opener, async () => 'https://files.example/a.pdf?sig=1');
    await flush();
    expect(tab.opener).toBeNull();
    expect(tab.location.href).toBe('https://files.example/a.pdf?sig=1');
    expect(win.location.assign).not.toHaveBeenCalled();
  });

  it('should go to the link in this page only when the popup was blocked', async () => {
    const { win } = browser(true);
    openSigned(win as unknown as Opener, async () => 'https://files.example/a.pdf');
    await flush();
    expect(win.location.assign).toHaveBeenCalledWith('https://files.example/a.pdf');
  });

  it('should close the tab when signing fails or the link is not http(s)', async () => {
    const first = browser();
    openSigned(first.win as unknown as Opener, () => Promise.reject(new Error('NOT_FOUND')));
    const second = browser();
    openSigned(second.win as unknown as Opener, async () => 'javascript:alert(1)');
    await flush();
    expect(first.tab.close).toHaveBeenCalled();
    expect(second.tab.close).toHaveBeenCalled();
    expect(second.tab.location.href).toBe('about:blank');
  });
});
