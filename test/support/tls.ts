/**
 * A throwaway PKI made with the real openssl: a test CA, a server certificate for 127.0.0.1 and a
 * client certificate (CN jenkins), valid for two days. Returns a reader of the PEM files it wrote
 * (ca.pem, server.key, server.pem, client.key, client.pem) under `<dir>/tls`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export function makeTestPki(dir: string): (file: string) => string {
  const tls = join(dir, 'tls');
  mkdirSync(tls, { recursive: true });
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'ignore' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=test-ca');
  writeFileSync(join(tls, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
  ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'san.ext');
  ssl('req', ...ec, '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=jenkins');
  ssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2');
  return (file) => readFileSync(join(tls, file), 'utf8');
}
