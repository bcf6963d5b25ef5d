// The side-by-side benchmark's floor: what restoring the sessions of a store written by mint.mjs
// costs at the least, one refresh request per session and nothing else.
//
//   node floor.mjs --records <file.json> --concurrency C
//
// Before timing: the records are read and the token endpoint is taken from discovery, once. Timed:
// for every indexed session, its private key parsed and one POST to the token endpoint
// (grant_type=refresh_token, client_secret_basic, a DPoP proof signed with the session's key) over
// kept-alive connections, C in flight; a 200 with an access token is a success. No ID-token check,
// no storage, no rotation bookkeeping. Prints one JSON line to stdout in the schema every contender
// shares (see README.md), contender "floor" and no storage operations; progress to stderr, without
// tokens or keys.
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import process from 'node:process';

import { parseClientArgs } from './client_args.mjs';

const INDEX_KEY = 'solidClientAuthn:registeredSessions';
const RECORD_PREFIX = 'solidClientAuthenticationUser:';
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_FAILURES_SHOWN = 5;

function log(message) {
    process.stderr.write(`floor: ${message}\n`);
}

function request(agent, url, { method = 'GET', headers = {}, body } = {}) {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, agent, headers, timeout: REQUEST_TIMEOUT_MS }, (res) => {
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

// application/x-www-form-urlencoded, as RFC 6749 section 2.3.1 asks of Basic credentials.
const formEncode = (text) => encodeURIComponent(text).replace(/%20/g, '+');

// RFC 9449 proof: ES256 over the header with the public JWK and the claims htm, htu, iat, jti.
function dpopProof(privateKey, publicJwk, htu) {
    const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const { kty, crv, x, y } = publicJwk;
    const input = `${b64({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y } })}.${b64({
        htm: 'POST', htu, iat: Math.floor(Date.now() / 1000), jti: randomUUID(),
    })}`;
    const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
}

async function main() {
    let options;
    try {
        options = parseClientArgs(process.argv.slice(2));
    } catch (err) {
        log(err.message);
        log('usage: node floor.mjs --records <file.json> --concurrency C');
        process.exit(2);
    }
    const entries = JSON.parse(readFileSync(options.records, 'utf8'));
    const ids = JSON.parse(entries[INDEX_KEY] ?? '[]');
    const records = ids.map((id) => JSON.parse(entries[`${RECORD_PREFIX}${id}`]));
    if (records.length === 0) throw new Error('the records file holds no sessions');

    // One connection pool the size of the concurrency: every request finds a kept-alive socket.
    const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
    const { issuer } = records[0];
    const discovery = await request(agent, `${issuer}/.well-known/openid-configuration`);
    if (discovery.status !== 200) throw new Error(`discovery answered ${discovery.status}`);
    const tokenEndpoint = JSON.parse(discovery.text).token_endpoint;
    const htu = tokenEndpoint.split(/[?#]/, 1)[0];
    log(`refreshing ${records.length} sessions, ${options.concurrency} in flight`);

    let ok = 0;
    let failed = 0;
    let next = 0;
    const refresh = async (record) => {
        const privateKey = createPrivateKey({ key: JSON.parse(record.privateKey), format: 'jwk' });
        const basic = Buffer.from(`${formEncode(record.clientId)}:${formEncode(record.clientSecret)}`).toString('base64');
        const body = `grant_type=refresh_token&refresh_token=${formEncode(record.refreshToken)}`;
        try {
            const { status, text } = await request(agent, tokenEndpoint, {
                method: 'POST',
                headers: {
                    authorization: `Basic ${basic}`,
                    dpop: dpopProof(privateKey, JSON.parse(record.publicKey), htu),
                    'content-type': 'application/x-www-form-urlencoded',
                    'content-length': Buffer.byteLength(body),
                },
                body,
            });
            if (status === 200 && typeof JSON.parse(text).access_token === 'string') {
                ok += 1;
                return;
            }
            failed += 1;
            // The provider's error object names the error, never the token.
            if (failed <= MAX_FAILURES_SHOWN) {
                let error;
                try { ({ error } = JSON.parse(text)); } catch { error = 'no JSON'; }
                log(`a refresh answered ${status} (${error})`);
            }
        } catch (err) {
            failed += 1;
            if (failed <= MAX_FAILURES_SHOWN) log(`a refresh failed: ${err?.message ?? err}`);
        }
    };
    const worker = async () => {
        while (next < records.length) {
            const record = records[next];
            next += 1;
            await refresh(record);
        }
    };
    const cpuBefore = process.cpuUsage();
    const from = process.hrtime.bigint();
    await Promise.all(Array.from({ length: Math.min(options.concurrency, records.length) }, worker));
    const rehydrateS = Number(process.hrtime.bigint() - from) / 1e9;
    const cpu = process.cpuUsage(cpuBefore);
    if (failed > MAX_FAILURES_SHOWN) log(`${failed - MAX_FAILURES_SHOWN} more failures not shown`);
    log(`refreshed ${ok} of ${records.length} in ${rehydrateS.toFixed(2)} s`);

    process.stdout.write(`${JSON.stringify({
        contender: 'floor',
        store: 'none',
        n: records.length,
        listed: records.length,
        ok,
        failed,
        list_ms: 0,
        rehydrate_s: rehydrateS,
        clear_ms: 0,
        cpu_s: (cpu.user + cpu.system) / 1e6,
        storage_ops: { list: 0, rehydrate: 0, clear: 0 },
    })}\n`);
    agent.destroy();
}

main().catch((err) => {
    log(`failed: ${err?.message ?? err}`);
    process.exit(1);
});
