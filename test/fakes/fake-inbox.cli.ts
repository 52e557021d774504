// `npm run fake:inbox`: a fake Inbox 2.0 REST API on its own, for trying the bridge by hand.
import { parseArgs } from 'node:util';
import { FakeInbox } from './fake-inbox.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '4010' },
    strict: { type: 'boolean', default: false },
  },
});

const inbox = new FakeInbox({
  autoOpen: !values.strict,
  onCall: (call) => console.log(JSON.stringify({ conversationId: call.conversationId, status: call.status, [call.kind]: call.body })),
});
const url = await inbox.start(Number(values.port));
console.log(`fake Inbox 2.0 listening on ${url}
  point the bridge at it:  ${Object.entries(inbox.env()).map(([k, v]) => `${k}=${v}`).join(' ')}
  ${values.strict ? 'strict: only conversations opened through /_fake/conversations/:id/open exist' : 'every conversation id is accepted until completed or taken (--strict to change)'}
  look:     curl ${url}/_fake/calls
  control:  curl -XPOST ${url}/_fake/conversations/<id>/take            (a human took it: 404 from now on)
            curl -XPOST ${url}/_fake/conversations/<id>/fail -d '{"status":429,"times":2,"retryAfter":"1"}'
            curl -XPOST ${url}/_fake/conversations/<id>/delay -d '{"ms":5000}'`);

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void inbox.stop().then(() => process.exit(0)));
