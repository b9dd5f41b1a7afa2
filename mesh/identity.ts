/**
 * A node's persistent identity and its network's pre-shared key, as bytes. The node host reads
 * and writes the files; these helpers only convert, so browsers can keep the same bytes in
 * IndexedDB.
 *
 * - Identity: an Ed25519 private key in libp2p's protobuf key format (the same bytes go-libp2p
 *   and js-libp2p write), so the peer id survives restarts.
 * - Swarm key: the standard private-network key file (`/key/swarm/psk/1.0.0/`, `/base16/`,
 *   64 hex digits), compatible with go-ipfs/kubo's `swarm.key`.
 */
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import type { PeerId, PrivateKey } from '@libp2p/interface';

/** The first line of a swarm key file: the pre-shared key protocol, version 1. */
export const SWARM_KEY_HEADER = '/key/swarm/psk/1.0.0/';

/** The only key encoding libp2p's pnet reads: hexadecimal. */
export const SWARM_KEY_ENCODING = '/base16/';

/** Bytes of a swarm key (256 bits, XSalsa20's key size). */
export const SWARM_KEY_BYTES = 32;

/** A fresh Ed25519 identity. */
export async function generateIdentity(): Promise<PrivateKey> {
  return generateKeyPair('Ed25519');
}

/** The private key as protobuf bytes, for the host to store (keep the file private: it is the identity). */
export function identityToBytes(key: PrivateKey): Uint8Array {
  return privateKeyToProtobuf(key);
}

/**
 * Reads a stored identity.
 * @throws Error saying what is wrong when the bytes are not an Ed25519 key in libp2p's protobuf format.
 */
export function identityFromBytes(bytes: Uint8Array): PrivateKey {
  let key: PrivateKey;
  try {
    key = privateKeyFromProtobuf(bytes);
  } catch (e) {
    throw new Error(
      `identity key is not a libp2p protobuf private key (${(e as Error).message}); `
      + 'delete the file to generate a new identity, or restore the original one', { cause: e },
    );
  }
  if (key.type !== 'Ed25519') {
    throw new Error(`identity key is ${key.type}; infermesh uses Ed25519 identities: generate a new one`);
  }
  return key;
}

/** The peer id an identity gives. */
export function peerIdOf(key: PrivateKey): PeerId {
  return peerIdFromPrivateKey(key);
}

/**
 * A new swarm key file's bytes. `random` (32 bytes) is for tests; by default the key comes from
 * `crypto.getRandomValues`.
 */
export function createSwarmKey(random?: Uint8Array): Uint8Array {
  const key = random ?? crypto.getRandomValues(new Uint8Array(SWARM_KEY_BYTES));
  if (key.byteLength !== SWARM_KEY_BYTES) throw new Error(`a swarm key needs ${SWARM_KEY_BYTES} random bytes, got ${key.byteLength}`);
  const hex = Array.from(key, (b) => b.toString(16).padStart(2, '0')).join('');
  return new TextEncoder().encode(`${SWARM_KEY_HEADER}\n${SWARM_KEY_ENCODING}\n${hex}\n`);
}

/**
 * Validates a swarm key file and returns it normalised (LF line ends, no trailing blank
 * lines), ready for libp2p's pnet. pnet itself only says "invalid psk"; this says what is wrong.
 * @throws Error naming the bad line.
 */
export function parseSwarmKey(bytes: Uint8Array): Uint8Array {
  const lines = new TextDecoder().decode(bytes).split(/\r\n|\r|\n/).map((l) => l.trim());
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const [header, encoding, hex, ...rest] = lines;
  const fix = 'create one with createSwarmKey() (or kubo\'s ipfs-swarm-key-gen) and give every node the same file';
  if (header !== SWARM_KEY_HEADER) throw new Error(`swarm key: first line must be '${SWARM_KEY_HEADER}', got '${header ?? ''}'; ${fix}`);
  if (encoding !== SWARM_KEY_ENCODING) throw new Error(`swarm key: second line must be '${SWARM_KEY_ENCODING}', got '${encoding ?? ''}'; ${fix}`);
  if (!/^[0-9a-fA-F]{64}$/.test(hex ?? '')) {
    throw new Error(`swarm key: third line must be ${SWARM_KEY_BYTES * 2} hexadecimal digits, got ${(hex ?? '').length} characters; ${fix}`);
  }
  if (rest.length > 0) throw new Error(`swarm key: unexpected extra lines after the key; ${fix}`);
  return new TextEncoder().encode(`${SWARM_KEY_HEADER}\n${SWARM_KEY_ENCODING}\n${hex.toLowerCase()}`);
}
