// The KillrVideo web app's use of Cassandra (docs/spec/schema.md): its HTTP session store.
// Usage: node session_store.js <driver package> <host> <port>; prints one JSON line.
const dse = require(process.argv[2]);
const [host, port] = [process.argv[3], Number(process.argv[4])];
const client = new dse.Client({ contactPoints: [host], protocolOptions: { port }, localDataCenter: 'datacenter1' });
const cl = dse.types.consistencies.localQuorum;
(async () => {
  await client.connect();
  const out = { protocolVersion: client.controlConnection.protocolVersion };
  await client.execute("CREATE KEYSPACE IF NOT EXISTS killrvideo_web WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}");
  await client.execute('CREATE TABLE IF NOT EXISTS killrvideo_web.express_session (sid text, session text, expires timestamp, PRIMARY KEY(sid))');
  const expires = new Date(Date.now() + 60000);
  await client.execute('UPDATE killrvideo_web.express_session SET session = ?, expires = ? WHERE sid = ?', ['{"user":1}', expires, 's1'], { prepare: true, consistency: cl });
  const read = await client.execute('SELECT session, expires FROM killrvideo_web.express_session WHERE sid = ?', ['s1'], { prepare: true, consistency: cl });
  out.session = read.rows[0].session;
  await client.execute('DELETE FROM killrvideo_web.express_session WHERE sid = ?', ['s1'], { prepare: true, consistency: cl });
  const gone = await client.execute('SELECT session FROM killrvideo_web.express_session WHERE sid = ?', ['s1'], { prepare: true, consistency: cl });
  out.afterDelete = gone.rowLength;
  console.log(JSON.stringify(out));
  await client.shutdown();
})().catch((err) => { console.error(err); process.exit(1); });
