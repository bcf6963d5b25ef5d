// Has Inrupt's own Node library (@inrupt/solid-client-authn-node) log sessions in against
// provider.mjs and writes the key/value store it filled, so that the C++ side can prove it takes
// over a store written by the library whose layout it claims to share.
//
//   node inrupt_store.mjs --issuer <url> (--out <file.json> | --redis <redis-url>) [--sessions N]
//                         [--account <prefix>] [--ca <pem>]
//
// Each session is a full authorization-code login driven by the library: Session.login() with a
// handleRedirect that captures the authorization URL, then that URL followed with plain HTTP
// requests (cookies carried by hand) through provider.mjs's interaction route, which signs in the
// account `<prefix>-<i>` and grants the requested scopes, up to the redirect back with a code,
// then Session.handleIncomingRedirect() with that redirect. The sessions take turns among the
// VARIANTS below, so the default three cover a static client with DPoP (the library's default
// token type) and with Bearer, and a Solid-OIDC public client whose refresh token the provider
// binds to the DPoP key.
//
// The store is the library's IStorage interface, over one of:
//   --out     an in-memory Map; once every session is logged in, the whole Map is written to the
//             file as one JSON object {key: value} (mode 0600: it holds refresh tokens, a client
//             secret and private keys);
//   --redis   a Redis database (redis://[user:password@]host:port/db), through the `redis` client
//             for Node: each entry a plain string under its own key, read with GET, written with
//             SET and removed with DEL, as a Node service sharing its sessions through Redis keeps
//             them. The keys are the library's own, unprefixed.
// Progress goes to stderr, without tokens, secrets or passwords; stdout stays empty. Exit code 0
// on success, 1 with a message on any failure, 2 for bad arguments.
//
// --ca: Node reads extra trusted certificates only at start-up, from NODE_EXTRA_CA_CERTS. A caller
// that sets NODE_EXTRA_CA_CERTS=<pem> itself (as the C++ suite does) runs in one process; otherwise
// the script starts itself again with the variable set and passes the exit code through.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

// As provider.mjs registers them.
const REDIRECT_URI = 'http://127.0.0.1/callback';
const CONFIDENTIAL_CLIENT = { clientId: 'confidential-client', clientSecret: 's3cret:with%odd+chars and/=' };
const SOLID_OIDC_CLIENT = { clientId: 'https://app.example/multisession-interop/client-id' };

const VARIANTS = [
    { label: 'static client, DPoP', client: CONFIDENTIAL_CLIENT, tokenType: 'DPoP' },
    { label: 'static client, Bearer', client: CONFIDENTIAL_CLIENT, tokenType: 'Bearer' },
    { label: 'Solid-OIDC client, DPoP', client: SOLID_OIDC_CLIENT, tokenType: 'DPoP' },
];

// Requests one login may take: the provider needs five (authorization, login form, resume,
// consent form, resume); many more means it is looping.
const MAX_HOPS = 12;
const REQUEST_TIMEOUT_MS = 15_000;

class UsageError extends Error {}

function log(message) {
    process.stderr.write(`inrupt_store: ${message}\n`);
}

function parseArgs(argv) {
    const options = { sessions: 3, account: 'inrupt' };
    for (let i = 0; i < argv.length; i += 1) {
        const value = () => {
            if (i + 1 >= argv.length) throw new UsageError(`${argv[i]} needs a value`);
            i += 1;
            return argv[i];
        };
        switch (argv[i]) {
        case '--issuer': options.issuer = value(); break;
        case '--out': options.out = value(); break;
        case '--redis': options.redis = value(); break;
        case '--sessions': options.sessions = Number(value()); break;
        case '--account': options.account = value(); break;
        case '--ca': options.ca = value(); break;
        default: throw new UsageError(`unknown argument ${argv[i]}`);
        }
    }
    if (!options.issuer) throw new UsageError('--issuer is required');
    if (Boolean(options.out) === Boolean(options.redis)) throw new UsageError('one of --out and --redis is required');
    if (options.redis !== undefined) {
        let url;
        try {
            url = new URL(options.redis);
        } catch {
            url = undefined;
        }
        // The URL itself is never repeated: it may hold a password.
        if (url?.protocol !== 'redis:') throw new UsageError('--redis is not a redis:// URL');
    }
    if (!Number.isInteger(options.sessions) || options.sessions < 1) {
        throw new UsageError('--sessions must be a positive integer');
    }
    try {
        const url = new URL(options.issuer);
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error();
    } catch {
        throw new UsageError(`--issuer is not an http(s) URL: ${options.issuer}`);
    }
    return options;
}

// The library's IStorage: three async string operations over a Map.
class MapStorage {
    constructor(map) { this.map = map; }

    async get(key) { return this.map.get(key); }

    async set(key, value) {
        if (typeof value !== 'string') throw new TypeError(`non-string value stored under ${key}`);
        this.map.set(key, value);
    }

    async delete(key) { this.map.delete(key); }
}

// The same interface over Redis: one string per key, nothing else (no hash, no index, no expiry).
// The client is the `redis` package's, connected once and never reconnecting: a lost connection
// fails the login in progress instead of hanging.
class RedisStorage {
    constructor(client) { this.client = client; }

    static async connect(url) {
        const { createClient } = await import('redis');
        const client = createClient({ url, socket: { connectTimeout: REQUEST_TIMEOUT_MS, reconnectStrategy: false } });
        // Without a listener an 'error' event would end the process; the failing command rejects
        // as well, and that is what is reported.
        client.on('error', () => {});
        await client.connect();
        return new RedisStorage(client);
    }

    // Where the entries went, without credentials.
    static describe(url) {
        const { host, pathname } = new URL(url);
        return `redis at ${host}, database ${pathname.slice(1) || '0'}`;
    }

    async get(key) { return (await this.client.get(key)) ?? undefined; }

    async set(key, value) {
        if (typeof value !== 'string') throw new TypeError(`non-string value stored under ${key}`);
        await this.client.set(key, value);
    }

    async delete(key) { await this.client.del(key); }

    async close() { await this.client.quit(); }
}

// Just enough of a cookie jar for one login at one provider: names and values, and removals by
// expiry. Paths are ignored, which is harmless here: each interaction reuses the cookie names, so
// the newest value is the one its path would have selected.
class CookieJar {
    constructor() { this.cookies = new Map(); }

    store(response) {
        for (const line of response.headers.getSetCookie()) {
            const [pair, ...attributes] = line.split(';');
            const eq = pair.indexOf('=');
            if (eq <= 0) continue;
            const name = pair.slice(0, eq).trim();
            const expired = attributes.some((attribute) => {
                const [key, val = ''] = attribute.split('=').map((s) => s.trim());
                if (key.toLowerCase() === 'max-age') return Number(val) <= 0;
                if (key.toLowerCase() === 'expires') return Date.parse(val) <= Date.now();
                return false;
            });
            if (expired) this.cookies.delete(name);
            else this.cookies.set(name, pair.slice(eq + 1).trim());
        }
    }

    header() {
        return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    }
}

// Follows the authorization URL through the provider's login and consent to the redirect back to
// the client, and returns that redirect (it carries the code). Never logs URLs: they hold the
// state, and the last one the code.
async function authorize(authorizationUrl, issuer, account) {
    const origin = new URL(issuer).origin;
    const jar = new CookieJar();
    let url = authorizationUrl;
    for (let hop = 0; hop < MAX_HOPS; hop += 1) {
        if (url.startsWith(`${REDIRECT_URI}?`)) return url;
        const target = new URL(url);
        if (target.origin !== origin) throw new Error(`the login left the provider for ${target.origin}`);
        // The provider's interaction pages are forms in a browser; here the form is posted at once.
        const interaction = target.pathname.startsWith('/interaction/');
        const headers = { cookie: jar.header() };
        const response = await fetch(url, {
            method: interaction ? 'POST' : 'GET',
            headers,
            body: interaction ? new URLSearchParams({ login: account }) : undefined,
            redirect: 'manual',
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        jar.store(response);
        const location = response.headers.get('location');
        if (![302, 303].includes(response.status) || !location) {
            const body = (await response.text()).slice(0, 500);
            throw new Error(`${interaction ? 'POST' : 'GET'} ${target.pathname} answered ${response.status}, not a `
                + `redirect: ${body}`);
        }
        url = new URL(location, url).href;
        const back = new URL(url);
        if (url.startsWith(`${REDIRECT_URI}?`) && back.searchParams.has('error')) {
            throw new Error(`the provider refused the login: ${back.searchParams.get('error')}: `
                + `${back.searchParams.get('error_description') ?? ''}`);
        }
    }
    throw new Error(`the login took more than ${MAX_HOPS} redirects`);
}

async function loginOne(Session, storage, options, index) {
    const variant = VARIANTS[index % VARIANTS.length];
    const account = `${options.account}-${index + 1}`;
    const session = new Session({ storage });
    let authorizationUrl;
    await session.login({
        oidcIssuer: options.issuer,
        ...variant.client,
        redirectUrl: REDIRECT_URI,
        tokenType: variant.tokenType,
        handleRedirect: (url) => { authorizationUrl = url; },
    });
    if (!authorizationUrl) throw new Error(`session ${index + 1}: login() did not ask for a redirect`);
    const redirect = await authorize(authorizationUrl, options.issuer, account);
    const info = await session.handleIncomingRedirect(redirect);
    if (!info?.isLoggedIn || !session.info.isLoggedIn) {
        throw new Error(`session ${index + 1} (${variant.label}) is not logged in after the redirect`);
    }
    if (typeof session.info.webId !== 'string' || !session.info.webId) {
        throw new Error(`session ${index + 1} (${variant.label}) has no WebID`);
    }
    log(`session ${session.info.sessionId} (${variant.label}): ${account} logged in as ${session.info.webId}`);
}

// Written beside the target and renamed over it, so a reader never sees half a store.
function writeStore(file, map) {
    const entries = Object.fromEntries([...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
    writeFileSync(temporary, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
}

// Starts this script again with NODE_EXTRA_CA_CERTS naming the CA, and ends with its exit code.
// SIGTERM and SIGINT are passed on, so stopping this process by PID stops both.
function reexecTrusting(ca) {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: ca },
        stdio: 'inherit',
    });
    for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal));
    child.on('error', (err) => {
        log(`cannot restart node with NODE_EXTRA_CA_CERTS: ${err.message}`);
        process.exit(1);
    });
    child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

async function main() {
    let options;
    try {
        options = parseArgs(process.argv.slice(2));
    } catch (err) {
        log(err.message);
        log('usage: node inrupt_store.mjs --issuer <url> (--out <file.json> | --redis <redis-url>) [--sessions N] '
            + '[--account <prefix>] [--ca <pem>]');
        process.exit(2);
    }
    if (options.ca && path.resolve(process.env.NODE_EXTRA_CA_CERTS ?? '') !== path.resolve(options.ca)) {
        reexecTrusting(options.ca);
        return;
    }

    const { Session } = await import('@inrupt/solid-client-authn-node');
    const map = new Map();
    const storage = options.redis ? await RedisStorage.connect(options.redis) : new MapStorage(map);
    // One after the other: the library edits its session index by read-modify-write, and
    // concurrent logins would lose entries from it.
    for (let i = 0; i < options.sessions; i += 1) await loginOne(Session, storage, options, i);
    if (options.redis) {
        await storage.close();
        log(`stored ${options.sessions} sessions in ${RedisStorage.describe(options.redis)}`);
    } else {
        writeStore(options.out, map);
        log(`wrote ${map.size} keys for ${options.sessions} sessions to ${options.out}`);
    }
    // The library leaves a refresh timer per session (keepAlive); they would keep node running.
    process.exit(0);
}

main().catch((err) => {
    // fetch() reports "fetch failed" and keeps the reason (refused, TLS, ...) in `cause`.
    const cause = err?.cause?.message ? ` (${err.cause.message})` : '';
    const text = `${err?.message ?? err}${cause}`;
    const hint = /certificate/i.test(text) ? '; a provider with a private CA needs --ca <pem>' : '';
    log(`failed: ${text}${hint}`);
    process.exit(1);
});
