// Mints N sessions at tests/interop/provider.mjs for the side-by-side benchmark and writes them in
// the key/value layout Inrupt's Node library leaves after an authorization-code login with DPoP,
// so that every contender restores exactly the same store.
//
//   node mint.mjs --issuer <url> --sessions N --out <file.json> [--seed S] [--account PREFIX]
//                 [--concurrency C]
//
// Session i belongs to the account `<PREFIX>-<i>` (default `peer-<i>`) and has a session id derived from the seed and i
// (shaped like the version-4 UUIDs the library picks), so two runs with one seed name the same
// sessions; the refresh tokens and keys are new on every run. For each session a fresh P-256 key
// pair, then POST /test/mint for `confidential-client` with dpop_jkt = the RFC 7638 thumbprint of
// its public key: the refresh token is bound to that key, as after a DPoP login, and only a client
// that signs its refresh proof with the stored key gets it accepted.
//
// What the file holds, one JSON object {key: value}, values strings (mode 0600: refresh tokens,
// the client secret and private keys are in it):
//   solidClientAuthenticationUser:<id>     the session record, with the fields the library writes
//                                          at such a login and in its order (no codeVerifier: the
//                                          library deletes it while redeeming the code; no
//                                          idTokenSignedResponseAlg: it writes that for dynamic
//                                          clients only and negotiates ES256 from discovery)
//   solidClientAuthenticationUser:<state>  {"sessionId": "<id>"}, the login's state entry, which the
//                                          library never deletes
//   solidClientAuthn:registeredSessions    the index: the ids in minting order
//   issuerConfig:<issuer>                  the discovery result, as the library stores it
// Progress goes to stderr without tokens or keys; stdout stays empty. Exit code 0 on success, 1
// with a message on any failure, 2 for bad arguments.
import { createECDH, createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import process from 'node:process';

// As provider.mjs registers them.
const CLIENT_ID = 'confidential-client';
const CLIENT_SECRET = 's3cret:with%odd+chars and/=';
const REDIRECT_URI = 'http://127.0.0.1/callback';
const webidOf = (accountId) => `https://pod.example/${encodeURIComponent(accountId)}/profile/card#me`;

const REQUEST_TIMEOUT_MS = 30_000;

class UsageError extends Error {}

function log(message) {
    process.stderr.write(`mint: ${message}\n`);
}

function parseArgs(argv) {
    const options = { seed: 'peer', account: 'peer', concurrency: 64 };
    for (let i = 0; i < argv.length; i += 1) {
        const value = () => {
            if (i + 1 >= argv.length) throw new UsageError(`${argv[i]} needs a value`);
            i += 1;
            return argv[i];
        };
        switch (argv[i]) {
        case '--issuer': options.issuer = value(); break;
        case '--sessions': options.sessions = Number(value()); break;
        case '--out': options.out = value(); break;
        case '--seed': options.seed = value(); break;
        case '--account': options.account = value(); break;
        case '--concurrency': options.concurrency = Number(value()); break;
        default: throw new UsageError(`unknown argument ${argv[i]}`);
        }
    }
    if (!options.issuer || !options.out) throw new UsageError('--issuer and --out are required');
    if (!Number.isInteger(options.sessions) || options.sessions < 1) {
        throw new UsageError('--sessions must be a positive integer');
    }
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
        throw new UsageError('--concurrency must be a positive integer');
    }
    let url;
    try { url = new URL(options.issuer); } catch { url = undefined; }
    // Plain HTTP only: the benchmark's provider listens on 127.0.0.1 without TLS.
    if (url?.protocol !== 'http:') throw new UsageError(`--issuer is not an http:// URL: ${options.issuer}`);
    options.issuer = options.issuer.replace(/\/$/, '');
    return options;
}

const sha256 = (text) => createHash('sha256').update(text).digest();

// A version-4-shaped UUID from the seed and the index: the same on every run with that seed.
function sessionIdOf(seed, index) {
    const b = sha256(`session:${seed}:${index}`).subarray(0, 16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = b.toString('hex');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The login's OAuth state: 32 bytes in base64url, as long as the library's own.
const stateOf = (seed, index) => sha256(`state:${seed}:${index}`).toString('base64url');

// The key pair as the library serialises it: the public JWK with alg added, the private JWK as
// exported (kty, x, y, crv, d). Made with ECDH on P-256 rather than generateKeyPairSync: this node
// (20.x) can deadlock when the garbage collector frees a key-generation job while a JWK export
// of its key is running, and thousands of keys in a row make that likely.
function dpopKeyPair() {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const point = ecdh.getPublicKey(); // 0x04 || X || Y, 32 bytes each
    const scalar = ecdh.getPrivateKey();
    const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
    const kty = 'EC';
    const crv = 'P-256';
    const x = b64(point.subarray(1, 33));
    const y = b64(point.subarray(33, 65));
    const d = b64(Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]));
    return { publicJwk: { kty, x, y, crv, alg: 'ES256' }, privateJwk: { kty, x, y, crv, d } };
}

// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
const thumbprint = ({ crv, kty, x, y }) => sha256(JSON.stringify({ crv, kty, x, y })).toString('base64url');

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

function request(url, { method = 'GET', body } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, {
            method,
            agent,
            headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
            timeout: REQUEST_TIMEOUT_MS,
        }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error(`${method} ${new URL(url).pathname} timed out`)));
        req.on('error', reject);
        req.end(body);
    });
}

// The discovery document under the names the library stores it with (configFromIssuerMetadata):
// only the members it keeps, each renamed to camelCase.
const ISSUER_CONFIG_MEMBERS = [
    'issuer', 'authorization_endpoint', 'subject_types_supported', 'claims_supported', 'token_endpoint',
    'jwks_uri', 'userinfo_endpoint', 'registration_endpoint', 'token_endpoint_auth_methods_supported',
    'grant_types_supported', 'response_types_supported', 'id_token_signing_alg_values_supported',
    'scopes_supported', 'end_session_endpoint',
];

async function issuerConfig(issuer) {
    const { status, text } = await request(`${issuer}/.well-known/openid-configuration`);
    if (status !== 200) throw new Error(`discovery answered ${status}`);
    const metadata = JSON.parse(text);
    const config = {};
    for (const member of ISSUER_CONFIG_MEMBERS) {
        if (metadata[member] !== undefined) config[member.replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = metadata[member];
    }
    return config;
}

async function mintOne(options, index) {
    const account = `${options.account}-${index}`;
    const { publicJwk, privateJwk } = dpopKeyPair();
    const { status, text } = await request(`${options.issuer}/test/mint`, {
        method: 'POST',
        body: JSON.stringify({ client_id: CLIENT_ID, account_id: account, dpop_jkt: thumbprint(publicJwk) }),
    });
    if (status !== 200) throw new Error(`minting for ${account} answered ${status}`);
    const refreshToken = JSON.parse(text).refresh_token;
    if (typeof refreshToken !== 'string' || !refreshToken) throw new Error(`minting for ${account} returned no refresh token`);
    return {
        clientId: CLIENT_ID,
        clientType: 'static',
        clientSecret: CLIENT_SECRET,
        clientName: CLIENT_ID,
        issuer: options.issuer,
        redirectUrl: REDIRECT_URI,
        dpop: 'true',
        keepAlive: 'true',
        refreshToken,
        webId: webidOf(account),
        isLoggedIn: 'true',
        publicKey: JSON.stringify(publicJwk),
        privateKey: JSON.stringify(privateJwk),
    };
}

// Written beside the target and renamed over it, so a reader never sees half a store.
function writeStore(file, entries) {
    const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}`);
    writeFileSync(temporary, `${JSON.stringify(entries)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
}

async function main() {
    let options;
    try {
        options = parseArgs(process.argv.slice(2));
    } catch (err) {
        log(err.message);
        log('usage: node mint.mjs --issuer <url> --sessions N --out <file.json> [--seed S] [--account PREFIX] '
            + '[--concurrency C]');
        process.exit(2);
    }
    const started = process.hrtime.bigint();
    const config = await issuerConfig(options.issuer);
    const records = new Array(options.sessions);
    let next = 0;
    const worker = async () => {
        while (next < options.sessions) {
            const index = next;
            next += 1;
            records[index] = await mintOne(options, index);
        }
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, options.sessions) }, worker));

    const ids = records.map((_, i) => sessionIdOf(options.seed, i));
    const entries = {};
    records.forEach((record, i) => {
        entries[`solidClientAuthenticationUser:${stateOf(options.seed, i)}`] = JSON.stringify({ sessionId: ids[i] });
        entries[`solidClientAuthenticationUser:${ids[i]}`] = JSON.stringify(record);
    });
    entries['solidClientAuthn:registeredSessions'] = JSON.stringify(ids);
    entries[`issuerConfig:${options.issuer}`] = JSON.stringify(config);
    writeStore(options.out, entries);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    log(`minted ${options.sessions} sessions in ${seconds.toFixed(1)} s, wrote ${Object.keys(entries).length} keys to ${options.out}`);
    agent.destroy();
}

main().catch((err) => {
    const cause = err?.cause?.message ? ` (${err.cause.message})` : '';
    log(`failed: ${err?.message ?? err}${cause}`);
    process.exit(1);
});
