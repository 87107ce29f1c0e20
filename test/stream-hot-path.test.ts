/**
 * The hot path costs no XState event per data message (docs/architecture.md, "context.io is
 * mutated in place"): data goes straight into the buffers, the machine sees control events only.
 * Counted with the actor's `inspect` hook.
 */
import t from 'tap'
import type { InspectionEvent } from 'xstate'
import { bytes, streamAndPeer, waitFor } from './support/helpers.js'

const messages = 1000
const size = 100

for (const coalesce of [true, false]) {
  t.test(`1,000 received messages and 1,000 writes cost only a handful of actor events (coalesce ${coalesce})`, async (t) => {
    const actorEvents: string[] = []
    const inspect = (event: InspectionEvent): void => {
      if (event.type === '@xstate.event') actorEvents.push(event.event.type)
    }
    const { stream, peer } = await streamAndPeer(t, { options: { inspect, coalesce } })
    // Proof that events the transport sends back to the machine are counted at all.
    t.ok(actorEvents.includes('socketOpen'), 'inspect sees the transport\'s events to the machine')
    const before = actorEvents.length

    const incoming = bytes(messages * size, 21)
    for (let i = 0; i < messages; i++) peer.send(incoming.subarray(i * size, (i + 1) * size))
    const outgoing = bytes(messages * size, 22)
    const received: Buffer[] = []
    let receivedBytes = 0
    let peerMessages = 0
    peer.on('message', (data: Buffer) => {
      received.push(data)
      receivedBytes += data.length
      peerMessages++
    })
    for (let i = 0; i < messages; i++) await stream.write(outgoing.subarray(i * size, (i + 1) * size))
    await stream.flush()
    const got = await stream.readExactly(incoming.length)
    await waitFor(() => receivedBytes >= outgoing.length, 10_000, 'the peer to receive every byte')

    const during = actorEvents.slice(before)
    t.ok(during.length < 20, `${during.length} actor events for ${messages} messages each way: ${[...new Set(during)].join(', ') || 'none'}`)
    t.equal(stream.stats.messagesIn, messages, 'all 1,000 messages came in')
    if (!coalesce) t.equal(peerMessages, messages, 'without coalescing, 1,000 messages went out')
    t.ok(Buffer.from(got).equals(Buffer.from(incoming)), 'incoming data intact')
    t.ok(Buffer.concat(received).equals(Buffer.from(outgoing)), 'outgoing data intact')
    await stream.close()
    t.ok(actorEvents.includes('socketClosed'), 'and the control events of the close')
  })
}
