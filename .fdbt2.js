const { MongoClient } = require('mongodb');
(async () => {
  const c = await MongoClient.connect('mongodb://127.0.0.1:27556/bench_rooms_seed_1000r_1000000m');
  const db = c.db(); const m = db.collection('chat_messages');
  const r = (await db.collection('chat_rooms').findOne({}))._id;
  const ex = await db.command({explain: {find: 'chat_messages', filter: { room_id: r, seq: { $gte: 1, $lte: 100 }, kind: 'text', sender_id: { $ne: 'x' } }}});
  console.log(ex.queryPlanner.Plan, ex.filterPushdown);
  for (const q of [{ room_id: r, seq: { $gte: 1, $lte: 100 } }, { room_id: r, seq: { $gte: 1, $lte: 100 }, kind: 'text' }, { room_id: r, seq: { $gte: 1, $lte: 100 }, kind: 'text', sender_id: { $ne: 'x' } }, {room_id: r}]) {
    const t = performance.now(); let n; for (let i = 0; i < 10; i++) n = (await db.command({ count: 'chat_messages', query: q })).n; console.log(JSON.stringify(q).slice(0, 90), n, ((performance.now() - t) / 10).toFixed(2), 'ms');
  }
  await c.close();
})();
