// A browser test drives several pages end to end; on a loaded 2-core CI machine 30 s is too tight.
jest.setTimeout(120_000);
