/**
 * Every libp2p protocol id and pubsub topic infermesh speaks, versioned, in one place
 * (ARCHITECTURE-GUIDE §4). A change that old peers would misread gets a new version here; the
 * message layouts are in protocol/mesh.proto.
 */

/** Inference requests and responses: length-prefixed MeshInferRequest/MeshInferResponse frames. */
export const INFER_PROTOCOL = '/infermesh/infer/1.0.0';

/** Content-addressed blob (model file) transfer: one BlobRequest, then BlobResponse frames. */
export const BLOB_PROTOCOL = '/infermesh/blob/1.0.0';

/** The gossipsub topic every peer publishes its PeerStatus on. */
export const STATUS_TOPIC = 'infermesh/status/1.0.0';

/** `PeerStatus.schema_version` this code writes and accepts. */
export const STATUS_SCHEMA_VERSION = 1;
