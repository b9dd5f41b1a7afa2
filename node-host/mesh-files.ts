/**
 * The mesh's files on disk: a node's identity (Ed25519 key, so the peer id survives restarts)
 * and the network's swarm key. The byte formats live in mesh/identity.ts; this file only reads
 * and writes them, with private permissions.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { PrivateKey } from '@libp2p/interface';
import { createSwarmKey, generateIdentity, identityFromBytes, identityToBytes, parseSwarmKey } from '../mesh/identity.ts';

/** Owner read/write only: these files are secrets. */
const PRIVATE_FILE_MODE = 0o600;

function writePrivate(path: string, bytes: Uint8Array, overwrite: boolean): void {
  if (!overwrite && existsSync(path)) throw new Error(`${path} already exists; refusing to overwrite a key (delete it first if you mean to)`);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, bytes, { mode: PRIVATE_FILE_MODE });
}

/** Loads the identity at `path`, creating it (and reporting so) when the file does not exist. */
export async function loadOrCreateIdentity(path: string): Promise<{ key: PrivateKey; created: boolean }> {
  if (existsSync(path)) {
    try {
      return { key: identityFromBytes(new Uint8Array(readFileSync(path))), created: false };
    } catch (e) {
      throw new Error(`identity file ${path}: ${(e as Error).message}`);
    }
  }
  const key = await generateIdentity();
  writePrivate(path, identityToBytes(key), false);
  return { key, created: true };
}

/** Writes a new identity file (`infermesh keygen --identity FILE`). */
export async function writeNewIdentity(path: string): Promise<PrivateKey> {
  const key = await generateIdentity();
  writePrivate(path, identityToBytes(key), false);
  return key;
}

/** Writes a new swarm key file (`infermesh keygen --swarm-key FILE`). */
export function writeNewSwarmKey(path: string): void {
  writePrivate(path, createSwarmKey(), false);
}

/** Reads and validates a swarm key file; the error names the file and what is wrong. */
export function readSwarmKey(path: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new Error(`cannot read swarm key file ${path}: ${(e as Error).message} (create one with: infermesh keygen --swarm-key ${path})`);
  }
  try {
    return parseSwarmKey(bytes);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
