import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { json } from '@sigstore/core';

/**
 * A private Sigstore for tests, on this offline machine: a Fulcio-like CA that issues a short-lived
 * certificate to an identity (SAN) with its OIDC issuer extension, and a Rekor-like log key that
 * signs the entry's inclusion promise (SET) and a checkpoint over a one-entry Merkle tree. Bundles
 * it makes have the shapes real keyless signing writes (v0.3, DSSE, a dsse 0.0.1 log entry with
 * both an inclusion proof and a promise); the trusted root names the CA and the log.
 */
export interface TestSigstore {
  trustedRoot: object;
  /** A keyless bundle of `payload` (in-toto JSON) signed as `identity` vouched for by `issuer`. */
  bundle(payload: Buffer, identity: string, issuer: string): object;
}

const PAYLOAD_TYPE = 'application/vnd.in-toto+json';

export function testSigstore(dir: string): TestSigstore {
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  writeFileSync(join(dir, 'ca.cnf'), '[req]\ndistinguished_name=dn\n[dn]\n[testca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key']);
  ssl(['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/O=ltrack-test/CN=test-fulcio', '-days', '2', '-config', 'ca.cnf', '-extensions', 'testca', '-out', 'ca.pem']);
  ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'tlog.key']);
  const der = (pem: string) => Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  const ca = new X509Certificate(readFileSync(join(dir, 'ca.pem')));
  const tlogKey = createPrivateKey(readFileSync(join(dir, 'tlog.key')));
  const tlogPub = createPublicKey(tlogKey).export({ type: 'spki', format: 'der' });
  const logId = createHash('sha256').update(tlogPub).digest();
  const trustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      {
        baseUrl: 'https://rekor.test',
        hashAlgorithm: 'SHA2_256',
        publicKey: { rawBytes: tlogPub.toString('base64'), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: '2020-01-01T00:00:00Z' } },
        logId: { keyId: logId.toString('base64') },
      },
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'ltrack-test', commonName: 'test-fulcio' },
        uri: 'https://fulcio.test',
        certChain: { certificates: [{ rawBytes: der(ca.toString()).toString('base64') }] },
        validFor: { start: new Date(ca.validFrom).toISOString() },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [],
  };
  let n = 0;
  return {
    trustedRoot,
    bundle(payload, identity, issuer) {
      const id = `leaf${n++}`;
      const san = identity.includes('@') ? `email:${identity}` : `URI:${identity}`;
      writeFileSync(
        join(dir, `${id}.cnf`),
        `[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=${san}\n1.3.6.1.4.1.57264.1.8=ASN1:UTF8String:${issuer}\n`,
      );
      ssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${id}.key`]);
      ssl(['req', '-new', '-key', `${id}.key`, '-subj', '/', '-config', 'ca.cnf', '-out', `${id}.csr`]);
      ssl(['x509', '-req', '-in', `${id}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '1', '-extfile', `${id}.cnf`, '-extensions', 'leaf', '-out', `${id}.pem`]);
      const leafPem = readFileSync(join(dir, `${id}.pem`), 'utf8');
      const pae = Buffer.concat([Buffer.from(`DSSEv1 ${PAYLOAD_TYPE.length} ${PAYLOAD_TYPE} ${payload.length} `), payload]);
      const sig = sign('sha256', pae, createPrivateKey(readFileSync(join(dir, `${id}.key`))));
      const body = {
        apiVersion: '0.0.1',
        kind: 'dsse',
        spec: {
          payloadHash: { algorithm: 'sha256', value: createHash('sha256').update(payload).digest('hex') },
          signatures: [{ signature: sig.toString('base64'), verifier: Buffer.from(leafPem).toString('base64') }],
        },
      };
      const bodyB64 = Buffer.from(JSON.stringify(body)).toString('base64');
      // just after the certificate was issued (its notBefore is now, to the second), as a log would
      const integratedTime = Math.floor(Date.now() / 1000) + 1;
      const root = createHash('sha256')
        .update(Buffer.concat([Buffer.from([0]), Buffer.from(bodyB64, 'base64')]))
        .digest();
      const note = `rekor.test - 42\n1\n${root.toString('base64')}\n`;
      const noteSig = sign('sha256', Buffer.from(note), tlogKey);
      const set = sign('sha256', Buffer.from(json.canonicalize({ body: bodyB64, integratedTime, logIndex: 0, logID: logId.toString('hex') })), tlogKey);
      return {
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: {
          certificate: { rawBytes: der(leafPem).toString('base64') },
          tlogEntries: [
            {
              logIndex: '0',
              logId: { keyId: logId.toString('base64') },
              kindVersion: { kind: 'dsse', version: '0.0.1' },
              integratedTime: String(integratedTime),
              inclusionPromise: { signedEntryTimestamp: set.toString('base64') },
              inclusionProof: {
                logIndex: '0',
                rootHash: root.toString('base64'),
                treeSize: '1',
                hashes: [],
                checkpoint: { envelope: `${note}\n\u2014 rekor.test ${Buffer.concat([logId.subarray(0, 4), noteSig]).toString('base64')}\n` },
              },
              canonicalizedBody: bodyB64,
            },
          ],
          timestampVerificationData: {},
        },
        dsseEnvelope: { payload: payload.toString('base64'), payloadType: PAYLOAD_TYPE, signatures: [{ sig: sig.toString('base64'), keyid: '' }] },
      };
    },
  };
}
