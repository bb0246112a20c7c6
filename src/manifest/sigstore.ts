// The Sigstore client libraries, in one module that keyless signing and verification load by
// dynamic import only when they run (nothing else pays for them). Re-exported statically here: in
// the bundled CLI a dynamic import() of a CommonJS package yields only its default export.
export { bundleFromJSON } from '@sigstore/bundle';
export { TrustedRoot } from '@sigstore/protobuf-specs';
export { CIContextProvider, DSSEBundleBuilder, FulcioSigner, RekorWitness, DEFAULT_FULCIO_URL, DEFAULT_REKOR_URL } from '@sigstore/sign';
export { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';
