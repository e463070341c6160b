import { randomBytes } from 'node:crypto';
import { MongoClient, type Db } from 'mongodb';
import { mongoUri } from './env';

// A database of its own on the store in use (TEST_MONGODB_URL), for one suite's conformance tests,
// dropped after it; `ferret` tells FerretDB (its buildInfo names its version) from MongoDB, for the
// assertions where the two differ. Read `db` and `ferret` inside tests: they are set by beforeAll.
export function storeDatabase(prefix: string): { readonly db: Db; readonly ferret: boolean } {
  let client: MongoClient | undefined;
  const store = {} as { db: Db; ferret: boolean };
  beforeAll(async () => {
    client = await new MongoClient(mongoUri(`${prefix}_${randomBytes(4).toString('hex')}`)).connect();
    store.db = client.db();
    const build = (await store.db.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
    store.ferret = build.ferretdbVersion !== undefined;
  });
  afterAll(async () => {
    await store.db?.dropDatabase();
    await client?.close();
  });
  return store;
}
