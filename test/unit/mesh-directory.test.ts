/**
 * Pure mesh logic on a fake clock: the peer directory (ages, expiry, liveness kept apart from
 * load, stale reports), the status validator's decisions on crafted messages, and the
 * identity / swarm key conversions.
 */
import { describe, expect, test } from 'vitest';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PeerId } from '@libp2p/interface';
import { PeerDirectory } from '../../mesh/peer-directory.ts';
import type { PeerStatus } from '../../mesh/peer-directory.ts';
import { checkStatusMessage, DEFAULT_MAX_STATUS_BYTES, encodePeerStatus } from '../../mesh/status-gossip.ts';
import type { PubSubMessage } from '../../mesh/mesh-node.ts';
import {
  createSwarmKey, generateIdentity, identityFromBytes, identityToBytes, parseSwarmKey, peerIdOf,
} from '../../mesh/identity.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { modelStatus } from '../support/mesh-cluster.ts';

function status(peerId: string, seq: number, models = [modelStatus('m', ['1', '2'])]): PeerStatus {
  return {
    schemaVersion: 1, peerId, role: 'PEER_ROLE_SERVER', seq, sentAtMs: 0, addresses: [], engines: ['fake:cpu'],
    capacity: 1, queued: 0, inFlight: 0, models,
  };
}

describe('PeerDirectory', () => {
  test('keeps the latest report per peer with its age, and refuses older sequence numbers', () => {
    const clock = new FakeClock();
    const d = new PeerDirectory({ intervalMs: 1000, clock });
    expect(d.upsert(status('p1', 10))).toBe(true);
    clock.advance(400);
    expect(d.ageMs('p1')).toBe(400);
    expect(d.upsert(status('p1', 10))).toBe(false);
    expect(d.upsert(status('p1', 9))).toBe(false);
    expect(d.ageMs('p1')).toBe(400);
    expect(d.upsert(status('p1', 11))).toBe(true);
    expect(d.ageMs('p1')).toBe(0);
    expect(d.lastSeq('p1')).toBe(11);
  });

  test('answers which fresh peers serve a model and version', () => {
    const d = new PeerDirectory({ clock: new FakeClock() });
    d.upsert(status('a', 1, [modelStatus('m', ['1', '2'])]));
    d.upsert(status('b', 1, [modelStatus('m', ['2'])]));
    d.upsert(status('c', 1, [modelStatus('other')]));
    d.upsert(status('d', 1, [modelStatus('m', [])])); // loaded, no READY version
    const ids = (xs: { peerId: string }[]) => xs.map((x) => x.peerId).sort();
    expect(ids(d.peersServing('m'))).toEqual(['a', 'b']);
    expect(ids(d.peersServing('m', '1'))).toEqual(['a']);
    expect(ids(d.peersServing('m', ''))).toEqual(['a', 'b']);
    expect(d.peersServing('nope')).toEqual([]);
  });

  test('a report expires after 3 missed intervals + grace, swept by the timer; liveness stays', () => {
    const clock = new FakeClock();
    const d = new PeerDirectory({ intervalMs: 1000, clock });
    expect(d.expireAfterMs).toBe(3500);
    const expired: string[] = [];
    d.addEventListener('peer:expired', (e) => expired.push(e.detail));
    d.start();
    d.upsert(status('a', 1));
    d.upsert(status('b', 1));
    d.setConnected('a', true);
    d.setRtt('a', 0.7);
    clock.advance(3000);
    d.upsert(status('b', 2)); // b keeps reporting
    clock.advance(1000); // a is 4000 ms old at the sweep
    expect(expired).toEqual(['a']);
    expect(d.get('a')).toEqual({ peerId: 'a', connected: true, rttMs: 0.7, status: undefined, receivedAtMs: undefined });
    expect(d.peersServing('m').map((e) => e.peerId)).toEqual(['b']);
    // the sequence is remembered after expiry: a replay of the old report stays refused
    expect(d.upsert(status('a', 1))).toBe(false);
    expect(d.upsert(status('a', 2))).toBe(true);
    clock.advance(10_000);
    expect(expired).toEqual(['a', 'b', 'a']);
    expect(d.peers().map((e) => e.peerId)).toEqual(['a']); // still connected, so still listed
    d.setConnected('a', false);
    expect(d.peers()).toEqual([]);
    d.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  test('a stale entry is not served even before the sweep runs', () => {
    const clock = new FakeClock();
    const d = new PeerDirectory({ intervalMs: 1000, expireAfterMs: 2000, clock });
    d.upsert(status('a', 1));
    clock.advance(2001);
    expect(d.peersServing('m')).toEqual([]);
  });

  test('the /v2/mesh snapshot is plain JSON with ages and liveness', () => {
    const clock = new FakeClock();
    const d = new PeerDirectory({ clock });
    d.upsert({ ...status('b', 5), role: 'PEER_ROLE_BROWSER', queued: 2, inFlight: 1 });
    d.setConnected('b', true);
    d.setConnected('a', true);
    clock.advance(250);
    const snap = d.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap.map((p) => [p.peer_id, p.role, p.connected, p.age_ms, p.seq, p.queued])).toEqual([
      ['a', 'unknown', true, null, null, 0],
      ['b', 'browser', true, 250, 5, 2],
    ]);
    expect(snap[1].models[0]).toEqual({ name: 'm', versions: ['1', '2'], platform: 'onnxruntime_onnx', max_batch_size: 8, throughput: 100, queued: 0, in_flight: 0 });
  });
});

describe('status validator', () => {
  let signer: PeerId;
  const msg = (data: Uint8Array, from = signer): PubSubMessage => ({
    type: 'signed', from, topic: 'infermesh/status/1.0.0', data, sequenceNumber: 1n, signature: new Uint8Array(), key: undefined as never,
  });
  const check = (m: PubSubMessage, last?: number, maxBytes = DEFAULT_MAX_STATUS_BYTES) => checkStatusMessage(m, { maxBytes, lastSeq: () => last });

  test('accepts a well-formed report from its signer, and refuses crafted ones with the reason', async () => {
    signer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'));
    const me = signer.toString();
    const good = check(msg(encodePeerStatus(status(me, 5))), 4);
    expect(good).toMatchObject({ ok: true, status: { peerId: me, seq: 5 } });
    expect(check(msg(encodePeerStatus(status(other.toString(), 5))))).toMatchObject({ ok: false, reason: 'impersonation', from: me });
    expect(check(msg(encodePeerStatus(status(me, 5))), 5)).toMatchObject({ ok: false, reason: 'stale' });
    expect(check(msg(encodePeerStatus(status(me, 3))), 5)).toMatchObject({ ok: false, reason: 'stale' });
    expect(check(msg(encodePeerStatus({ ...status(me, 9), schemaVersion: 2 })))).toMatchObject({ ok: false, reason: 'schema' });
    expect(check(msg(encodePeerStatus(status(me, 9))), undefined, 20)).toMatchObject({ ok: false, reason: 'oversized' });
    expect(check(msg(Uint8Array.of(0x0a, 0xff)))).toMatchObject({ ok: false, reason: 'malformed' });
    const tooMany = { ...status(me, 9), addresses: Array.from({ length: 65 }, () => '/ip4/1.1.1.1/tcp/1') };
    expect(check(msg(encodePeerStatus(tooMany)))).toMatchObject({ ok: false, reason: 'malformed' });
    const unsigned = { type: 'unsigned', topic: 't', data: encodePeerStatus(status(me, 9)) } as PubSubMessage;
    expect(check(unsigned)).toMatchObject({ ok: false, reason: 'unsigned' });
  });
});

describe('identity and swarm key', () => {
  test('an identity survives a round trip through bytes, and bad bytes say what to do', async () => {
    const key = await generateIdentity();
    const again = identityFromBytes(identityToBytes(key));
    expect(peerIdOf(again).toString()).toBe(peerIdOf(key).toString());
    expect(() => identityFromBytes(Uint8Array.of(1, 2, 3))).toThrow(/not a libp2p protobuf private key.*delete the file/);
    const secp = await generateKeyPair('secp256k1');
    expect(() => identityFromBytes(identityToBytes(secp))).toThrow('infermesh uses Ed25519 identities');
  });

  test('swarm keys use the standard text format and are validated line by line', () => {
    const key = createSwarmKey(new Uint8Array(32).fill(0xab));
    expect(new TextDecoder().decode(key)).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}\n`);
    const crlf = new TextEncoder().encode(`/key/swarm/psk/1.0.0/\r\n/base16/\r\n${'AB'.repeat(32)}\r\n`);
    expect(new TextDecoder().decode(parseSwarmKey(crlf))).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}`);
    const bad = (s: string) => () => parseSwarmKey(new TextEncoder().encode(s));
    expect(bad('/key/swarm/psk/2.0.0/\n/base16/\n' + 'ab'.repeat(32))).toThrow("first line must be '/key/swarm/psk/1.0.0/'");
    expect(bad('/key/swarm/psk/1.0.0/\n/base64/\n' + 'ab'.repeat(32))).toThrow("second line must be '/base16/'");
    expect(bad('/key/swarm/psk/1.0.0/\n/base16/\nabc')).toThrow('64 hexadecimal digits, got 3 characters');
    expect(() => createSwarmKey(new Uint8Array(16))).toThrow('needs 32 random bytes');
    expect(createSwarmKey()).not.toEqual(createSwarmKey());
  });
});
