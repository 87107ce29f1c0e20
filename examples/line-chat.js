// A line chat: every line a member sends goes to every other member, prefixed with its name.
// Lines are framed with linesCodec over the byte stream. Three scripted members talk, then leave.
import { WsStreamServer, connect, framed, linesCodec } from 'ws-stream-actor'

const server = new WsStreamServer({ host: '127.0.0.1', port: 0, handler: chat })
await server.listening
const url = `ws://127.0.0.1:${server.address().port}`
const members = new Map()   // framed connection → name

async function chat(stream) {
  const lines = framed(stream, linesCodec({ maxLength: 1024 }))
  const broadcast = (text, except) => Promise.all(
    [...members.keys()].filter((m) => m !== except).map((m) => m.send(text).catch(() => {})))
  let name
  for await (const line of lines) {
    if (name === undefined) {
      name = line   // the first line is the member's name
      members.set(lines, name)
      await broadcast(`* ${name} joined`, lines)
      continue
    }
    await broadcast(`<${name}> ${line}`, lines)
  }
  members.delete(lines)
  if (name !== undefined) await broadcast(`* ${name} left`)
}

async function member(name) {
  const lines = framed(await connect(url, { timeout: 5000 }), linesCodec({ maxLength: 1024 }))
  const heard = []
  const listening = (async () => { for await (const line of lines) heard.push(line) })()
  await lines.send(name)
  return {
    heard,
    say: (text) => lines.send(text),
    async leave() { await lines.close(1000, 'bye'); await listening },
  }
}

const until = async (check) => { while (!check()) await new Promise((r) => setTimeout(r, 5)) }
const ada = await member('ada')
const bob = await member('bob')
await until(() => ada.heard.includes('* bob joined'))
const cy = await member('cy')
await until(() => ada.heard.includes('* cy joined') && bob.heard.includes('* cy joined'))
await ada.say('hello, everyone')
await until(() => bob.heard.includes('<ada> hello, everyone') && cy.heard.includes('<ada> hello, everyone'))
await bob.say('hi ada')
await until(() => ada.heard.includes('<bob> hi ada') && cy.heard.includes('<bob> hi ada'))
await cy.leave()
await until(() => ada.heard.includes('* cy left') && bob.heard.includes('* cy left'))
await ada.leave()
await until(() => bob.heard.includes('* ada left'))
await bob.leave()

for (const [name, m] of [['ada', ada], ['bob', bob], ['cy', cy]]) console.log(`[${name}] heard: ${m.heard.join(' | ')}`)
console.log(`[server] drained: ${JSON.stringify(await server.close({ timeout: 1000 }))}`)
