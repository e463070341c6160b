const { MongoClient } = require('mongodb');
(async () => {
  const c = await MongoClient.connect('mongodb://127.0.0.1:27555/bench_rooms_seed_1000r_1000000m');
  const db = c.db(); const m = db.collection('chat_messages');
  const rooms = (await db.collection('chat_rooms').find({}, {projection: {_id: 1}}).limit(50).toArray()).map(r => r._id);
  const time = async (label, fn) => { const t = []; for (const r of rooms) { const s = performance.now(); await fn(r); t.push(performance.now() - s); } t.sort((a,b)=>a-b); console.log(label, 'p50', t[25].toFixed(1), 'p95', t[47].toFixed(1)); };
  await time('history100', (r) => m.find({ room_id: r }).sort({ seq: -1 }).limit(100).toArray());
  await time('history100 proj', (r) => m.find({ room_id: r }, {projection: {seq: 1}}).sort({ seq: -1 }).limit(100).toArray());
  await time('head', (r) => m.find({ room_id: r }).sort({ seq: -1 }).limit(1).toArray());
  await time('unread101', (r) => m.find({ room_id: r, seq: {$gt: 0} }, {projection: {sender_id: 1, kind: 1}}).sort({ seq: 1 }).limit(101).toArray());
  await time('public list', () => db.collection('chat_rooms').find({ kind: 'public' }).sort({ last_message_at: -1, _id: 1 }).limit(100).toArray());
  await time('reactions', (r) => db.collection('chat_reactions').find({ message_id: { $in: Array.from({length: 100}, (_, i) => r + i) } }).toArray());
  console.log(JSON.stringify((await m.find({ room_id: rooms[0] }).sort({ seq: -1 }).limit(100).explain()).queryPlanner));
  await c.close();
})();
