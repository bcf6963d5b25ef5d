// The OpenID provider the interoperability suite talks to: oidc-provider on 127.0.0.1, configured
// the way Solid identity providers are (DPoP, rotating refresh tokens, a `webid` claim in the ID
// token), plus test-only routes: one mints refresh tokens without any login, one stands in for the
// login and consent pages so that an authorization-code login can be completed with plain HTTP
// requests (see inrupt_store.mjs), and two read and reset request counters (see below). It also
// offers open dynamic client registration (RFC 7591), token revocation (RFC 7009) and RP-initiated
// logout (end_session_endpoint).
//
//   node provider.mjs <port> [--cert cert.pem --key key.pem] [--dpop-nonce] [--post-only]
//                            [--access-ttl <seconds>] [--watch-stdin]
//
// Port 0 picks a free port. Prints `READY <port>` once listening and runs until killed.
//   --cert/--key   serve HTTPS with this certificate (it must cover IP:127.0.0.1)
//   --dpop-nonce   require a server-provided DPoP nonce on every DPoP proof (RFC 9449 section 8)
//   --post-only    advertise and register client_secret_post only, so clients must pick it
//   --access-ttl   lifetime of access tokens in seconds (default 3600), e.g. a few seconds to
//                  test refreshing before expiry
//   --watch-stdin  exit when stdin reaches its end: the parent holds the pipe's other end, so a
//                  parent that dies without stopping us (a killed test) does not leave us running
//
// Clients: `confidential-client` (client_secret_basic, or client_secret_post with --post-only),
// `public-client` (no secret, RS256 ID tokens) and SOLID_OIDC_CLIENT_ID, a public client named by
// a URL the way Solid-OIDC Client Identifier Documents are (registered here, never dereferenced).
// All three redirect to REDIRECT_URI, which nothing serves: a login script reads the code from the
// Location header of the last redirect. Their RP-initiated logouts may return to
// POST_LOGOUT_REDIRECT_URI (the provider refuses any post_logout_redirect_uri not registered).
//
// Dynamic registration is open (no initial access token) at /reg: a registered client gets what it
// asks for within the provider's limits, e.g. authorization_code + refresh_token with a secret
// (client_secret_basic by default) or without (`none`), and uses DPoP like the static ones. Such a
// client asks for scope and post_logout_redirect_uris itself; with --post-only a registration that
// names client_secret_basic is refused.
//
// Login without a browser: the authorization endpoint redirects to /interaction/<uid>; a POST
// there with the form field `login=<account>` signs that account in (login prompt) or grants the
// client everything it asked for (consent prompt), and redirects back to the authorization
// endpoint, which carries on to the next prompt or to REDIRECT_URI?code=...&state=... No flag
// turns this on: nothing reaches it without first starting an authorization request.
//
// Request counting, for benchmarks: GET /test/stats answers {"by_path": {<route>: <count>},
// "total": <count>} for every request served since the start or the last POST /test/stats/reset.
// A route is named by what it does for the well-known ones (discovery, token, jwks, ...), by its
// path otherwise; the /test/ routes themselves are not counted.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';

import Provider from 'oidc-provider';

const HOST = '127.0.0.1';

function parseArgs(argv) {
    const options = {
        port: Number(argv[0] ?? 0), dpopNonce: false, postOnly: false, watchStdin: false, accessTtl: 3600,
    };
    for (let i = 1; i < argv.length; i += 1) {
        switch (argv[i]) {
        case '--cert': options.cert = argv[++i]; break;
        case '--key': options.key = argv[++i]; break;
        case '--dpop-nonce': options.dpopNonce = true; break;
        case '--post-only': options.postOnly = true; break;
        case '--access-ttl': options.accessTtl = Number(argv[++i]); break;
        case '--watch-stdin': options.watchStdin = true; break;
        default: throw new Error(`unknown argument ${argv[i]}`);
        }
    }
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
        throw new Error('the first argument must be a port number (0 for any)');
    }
    if (Boolean(options.cert) !== Boolean(options.key)) throw new Error('--cert and --key go together');
    if (!Number.isInteger(options.accessTtl) || options.accessTtl < 1) {
        throw new Error('--access-ttl needs a whole number of seconds, at least 1');
    }
    return options;
}

// The bundled memory adapter is an LRU of 1000 entries: a suite minting many sessions would see
// tokens vanish. This one keeps everything until it expires.
const store = new Map();
const grantMembers = new Map(); // grantId -> keys of the tokens issued under that grant

class UnboundedAdapter {
    constructor(model) { this.model = model; }

    key(id) { return `${this.model}:${id}`; }

    async upsert(id, payload, expiresIn) {
        const key = this.key(id);
        store.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
        if (payload.grantId) {
            if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
            grantMembers.get(payload.grantId).add(key);
        }
    }

    async find(id) {
        const entry = store.get(this.key(id));
        if (!entry) return undefined;
        if (entry.expiresAt <= Date.now()) {
            store.delete(this.key(id));
            return undefined;
        }
        return entry.payload;
    }

    async findByUid(uid) {
        for (const [key, { payload }] of store) {
            if (key.startsWith(`${this.model}:`) && payload.uid === uid) return payload;
        }
        return undefined;
    }

    async findByUserCode(userCode) {
        for (const [key, { payload }] of store) {
            if (key.startsWith(`${this.model}:`) && payload.userCode === userCode) return payload;
        }
        return undefined;
    }

    async consume(id) {
        const payload = await this.find(id);
        if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }

    async destroy(id) { store.delete(this.key(id)); }

    async revokeByGrantId(grantId) {
        for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
        grantMembers.delete(grantId);
    }
}

// Fresh signing keys on every start: nothing secret lives in the repository.
function signingKeys() {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
    return [
        { ...ec, kid: 'es256-1', alg: 'ES256', use: 'sig' },
        { ...rsa, kid: 'rs256-1', alg: 'RS256', use: 'sig' },
    ];
}

// The WebID the test accounts claim; nothing dereferences it.
const webidOf = (accountId) => `https://pod.example/${encodeURIComponent(accountId)}/profile/card#me`;

const OIDC_SCOPE = 'openid offline_access webid';

// Where every client's authorization responses go. Nothing listens there.
const REDIRECT_URI = 'http://127.0.0.1/callback';
// Where the static clients' RP-initiated logouts may send the user agent back to. Nothing listens.
const POST_LOGOUT_REDIRECT_URI = 'http://127.0.0.1/logged-out';

// A public client identified by a URL, as Solid-OIDC clients are: Solid client libraries treat a
// URL client_id as a Client Identifier Document and authenticate with `none`.
const SOLID_OIDC_CLIENT_ID = 'https://app.example/multisession-interop/client-id';

function createProvider(issuer, options) {
    const secretMethod = options.postOnly ? 'client_secret_post' : 'client_secret_basic';
    return new Provider(issuer, {
        adapter: UnboundedAdapter,
        clients: [
            {
                client_id: 'confidential-client',
                // Characters that Basic authentication must form-encode (RFC 6749 section 2.3.1):
                // a client that skips the encoding fails here.
                client_secret: 's3cret:with%odd+chars and/=',
                token_endpoint_auth_method: secretMethod,
                grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
                response_types: ['code'],
                redirect_uris: [REDIRECT_URI],
                post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
                id_token_signed_response_alg: 'ES256',
            },
            {
                client_id: 'public-client',
                token_endpoint_auth_method: 'none',
                grant_types: ['authorization_code', 'refresh_token'],
                response_types: ['code'],
                redirect_uris: [REDIRECT_URI],
                post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
                // RS256 here, ES256 above: both signature families go through the client's JWKS code.
                id_token_signed_response_alg: 'RS256',
            },
            {
                client_id: SOLID_OIDC_CLIENT_ID,
                token_endpoint_auth_method: 'none',
                grant_types: ['authorization_code', 'refresh_token'],
                response_types: ['code'],
                redirect_uris: [REDIRECT_URI],
                post_logout_redirect_uris: [POST_LOGOUT_REDIRECT_URI],
                // Solid client libraries prefer ES256 and refuse an ID token signed with anything
                // other than the algorithm they settled on.
                id_token_signed_response_alg: 'ES256',
            },
        ],
        clientAuthMethods: options.postOnly ? ['none', 'client_secret_post']
            : ['none', 'client_secret_basic', 'client_secret_post'],
        jwks: { keys: signingKeys() },
        cookies: { keys: [randomBytes(32).toString('hex')] },
        claims: { openid: ['sub'], webid: ['webid'] },
        // Solid clients read `webid` from the ID token itself, not from userinfo.
        conformIdTokenClaims: false,
        async findAccount(ctx, accountId) {
            return {
                accountId,
                async claims() { return { sub: accountId, webid: webidOf(accountId) }; },
            };
        },
        features: {
            devInteractions: { enabled: false },
            clientCredentials: { enabled: true },
            // Open registration: no initial access token, as Solid identity providers offer it.
            registration: { enabled: true, initialAccessToken: false },
            revocation: { enabled: true },
            // On by default in oidc-provider 8; named here because the suite relies on it. The
            // end_session_endpoint (/session/end) checks post_logout_redirect_uri against the
            // client's post_logout_redirect_uris.
            rpInitiatedLogout: { enabled: true },
            dPoP: options.dpopNonce
                ? { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true }
                : { enabled: true },
        },
        rotateRefreshToken: true,
        // A refresh token whenever the client may use them, offline_access asked for or not.
        issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
        ttl: {
            AccessToken: options.accessTtl,
            AuthorizationCode: 60,
            ClientCredentials: 3600,
            Grant: 14 * 24 * 3600,
            IdToken: 3600,
            Interaction: 3600,
            RefreshToken: 14 * 24 * 3600,
            Session: 14 * 24 * 3600,
        },
    });
}

function readBody(req) {
    return new Promise((resolve, reject) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        req.on('error', reject);
    });
}

async function readJson(req) {
    return JSON.parse(await readBody(req));
}

function reply(res, status, body) {
    res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(body));
}

// POST /test/mint {client_id, account_id, dpop_jkt?} -> {refresh_token}: what a finished login
// would leave behind (a Grant for OIDC_SCOPE and a refresh token under it), made with the
// provider's own models so the token endpoint treats it like any other. With dpop_jkt the token is
// bound to that key thumbprint, as the provider binds public clients' tokens after a DPoP login.
async function mint(provider, req, res) {
    let body;
    try { body = await readJson(req); } catch { reply(res, 400, { error: 'invalid_json' }); return; }
    const { client_id: clientId, account_id: accountId, dpop_jkt: jkt } = body ?? {};
    const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
    if (!client || typeof accountId !== 'string' || !accountId || (jkt !== undefined && typeof jkt !== 'string')) {
        reply(res, 400, { error: 'invalid_request' });
        return;
    }
    const grant = new provider.Grant({ accountId, clientId });
    grant.addOIDCScope(OIDC_SCOPE);
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
        accountId,
        client,
        grantId,
        gty: 'authorization_code',
        scope: OIDC_SCOPE,
        authTime: Math.floor(Date.now() / 1000),
        rotations: 0,
        ...(jkt ? { jkt } : {}),
    });
    reply(res, 200, { refresh_token: await token.save() });
}

// POST /interaction/<uid> with the form field `login=<account>`: what a user clicking through a
// real provider's login and consent pages achieves. The login prompt signs `login` in; the consent
// prompt grants exactly what the provider found missing, scopes and claims (offline_access is
// among them only when the client sent prompt=consent: the provider drops it otherwise). Either
// way the answer is the provider's own 303 back to the authorization endpoint.
async function interact(provider, req, res) {
    const form = new URLSearchParams(await readBody(req));
    const details = await provider.interactionDetails(req, res);
    const { prompt, params, session } = details;
    switch (prompt.name) {
    case 'login': {
        const accountId = form.get('login');
        if (!accountId) {
            reply(res, 400, { error: 'invalid_request', error_description: 'the form field login is missing' });
            return;
        }
        await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
        return;
    }
    case 'consent': {
        const grant = details.grantId ? await provider.Grant.find(details.grantId)
            : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
        const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
        if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
        if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
        for (const [indicator, scope] of Object.entries(missingResourceScopes ?? {})) {
            grant.addResourceScope(indicator, scope.join(' '));
        }
        await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } },
            { mergeWithLastSubmission: true });
        return;
    }
    default:
        reply(res, 501, { error: 'server_error', error_description: `no handler for the ${prompt.name} prompt` });
    }
}

// Requests served per route since the start or the last reset (see the comment at the top). The
// names are fixed for the routes a client's restore touches, so a benchmark reads them without
// knowing the provider's paths; ids in paths (interactions, registrations) are dropped so that
// each route is one entry.
const ROUTE_NAMES = new Map([
    ['/.well-known/openid-configuration', 'discovery'],
    ['/token', 'token'],
    ['/jwks', 'jwks'],
    ['/auth', 'authorization'],
    ['/me', 'userinfo'],
    ['/reg', 'registration'],
    ['/token/revocation', 'revocation'],
    ['/session/end', 'end_session'],
]);
const requestCounts = new Map();

function routeOf(url) {
    const pathname = url.split(/[?#]/, 1)[0];
    if (ROUTE_NAMES.has(pathname)) return ROUTE_NAMES.get(pathname);
    const [, first = ''] = pathname.split('/');
    if (first === 'interaction') return 'interaction';
    if (first === 'reg') return 'registration';
    return pathname;
}

function countRequest(url) {
    const route = routeOf(url);
    requestCounts.set(route, (requestCounts.get(route) ?? 0) + 1);
}

function stats() {
    const byPath = Object.fromEntries([...requestCounts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { by_path: byPath, total: [...requestCounts.values()].reduce((sum, n) => sum + n, 0) };
}

// The provider's own errors (an unknown or expired interaction, missing cookies) carry a status.
function replyError(res, err) {
    if (res.headersSent) {
        res.destroy();
        return;
    }
    const status = Number.isInteger(err?.statusCode) ? err.statusCode : 500;
    reply(res, status, { error: err?.error ?? 'server_error', error_description: err?.error_description ?? String(err) });
}

const options = parseArgs(process.argv.slice(2));
const tls = options.cert ? { cert: readFileSync(options.cert), key: readFileSync(options.key) } : undefined;

// The issuer names the port, which is known only once listening: the provider is made in the
// listen callback, which runs before any connection is served.
let provider;
let providerCallback;
const handler = (req, res) => {
    if (!req.url.startsWith('/test/')) countRequest(req.url);
    if (req.method === 'GET' && req.url === '/test/stats') {
        reply(res, 200, stats());
        return;
    }
    if (req.method === 'POST' && req.url === '/test/stats/reset') {
        requestCounts.clear();
        reply(res, 200, stats());
        return;
    }
    if (req.method === 'POST' && req.url === '/test/mint') {
        mint(provider, req, res).catch((err) => reply(res, 500, { error: 'server_error', error_description: String(err) }));
        return;
    }
    if (req.method === 'POST' && /^\/interaction\/[^/?#]+$/.test(req.url)) {
        interact(provider, req, res).catch((err) => replyError(res, err));
        return;
    }
    providerCallback(req, res);
};
const server = tls ? https.createServer(tls, handler) : http.createServer(handler);

server.listen(options.port, HOST, () => {
    const { port } = server.address();
    provider = createProvider(`${tls ? 'https' : 'http'}://${HOST}:${port}`, options);
    providerCallback = provider.callback();
    // The test reads this line to learn the port; nothing else goes to stdout.
    process.stdout.write(`READY ${port}\n`);
});

// Stopped by the test with SIGTERM: exit at once instead of waiting for kept-alive connections.
process.on('SIGTERM', () => process.exit(0));
if (options.watchStdin) {
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
}
