// The side-by-side benchmark's Inrupt contender: restores every session of a store written by
// mint.mjs with Inrupt's own Node library (@inrupt/solid-client-authn-node, as
// tests/interop/package.json pins it), the way a Node service does after a restart.
//
//   node inrupt_client.mjs --records <file.json> --concurrency C
//
// The store is the library's IStorage over a Map loaded from the file, counting every get, set and
// delete. Three timed phases, one after the other:
//   list       getSessionIdFromStorageAll(storage)
//   rehydrate  getSessionFromStorage(id, {storage}) for every listed id, C in flight; each must come
//              back logged in, anything else (a rejection included) is a failure
//   clear      clearSessionFromStorageAll(storage)
// process.cpuUsage() is taken around the rehydrate phase. Prints one JSON line to stdout, in the
// schema every contender shares (see README.md); progress and failures go to stderr, with anything
// that looks like a token, a key or the client secret removed: the library's error messages may
// quote whole records.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

import { parseClientArgs } from './client_args.mjs';

// The library is installed with the interoperability suite's pinned packages.
const INTEROP_PACKAGE = new URL('../../tests/interop/package.json', import.meta.url);
const CLIENT_SECRET = 's3cret:with%odd+chars and/=';
const MAX_FAILURES_SHOWN = 5;

function log(message) {
    process.stderr.write(`inrupt_client: ${message}\n`);
}

// Refresh tokens, JWK members and JWS parts are long base64url runs; the client secret is known.
const redact = (text) => String(text).split(CLIENT_SECRET).join('<secret>').replace(/[A-Za-z0-9_-]{20,}/g, '<redacted>');

// The library's IStorage over a Map, counting what the library asks of it.
class CountingStorage {
    constructor(map) {
        this.map = map;
        this.ops = { get: 0, set: 0, delete: 0 };
    }

    total() { return this.ops.get + this.ops.set + this.ops.delete; }

    async get(key) {
        this.ops.get += 1;
        return this.map.get(key);
    }

    async set(key, value) {
        this.ops.set += 1;
        if (typeof value !== 'string') throw new TypeError(`non-string value stored under ${key}`);
        this.map.set(key, value);
    }

    async delete(key) {
        this.ops.delete += 1;
        this.map.delete(key);
    }
}

const seconds = (from) => Number(process.hrtime.bigint() - from) / 1e9;

async function main() {
    let options;
    try {
        options = parseClientArgs(process.argv.slice(2));
    } catch (err) {
        log(err.message);
        log('usage: node inrupt_client.mjs --records <file.json> --concurrency C');
        process.exit(2);
    }
    const require = createRequire(INTEROP_PACKAGE);
    const library = await import(pathToFileURL(require.resolve('@inrupt/solid-client-authn-node')).href);
    const { getSessionFromStorage, getSessionIdFromStorageAll, clearSessionFromStorageAll } = library;

    const storage = new CountingStorage(new Map(Object.entries(JSON.parse(readFileSync(options.records, 'utf8')))));

    let from = process.hrtime.bigint();
    const ids = await getSessionIdFromStorageAll(storage);
    const listMs = seconds(from) * 1000;
    const listOps = storage.total();
    log(`listed ${ids.length} sessions; restoring them, ${options.concurrency} in flight`);

    let ok = 0;
    let failed = 0;
    let next = 0;
    const restore = async (id) => {
        try {
            const session = await getSessionFromStorage(id, { storage });
            if (session?.info?.isLoggedIn) {
                ok += 1;
                return;
            }
            failed += 1;
            if (failed <= MAX_FAILURES_SHOWN) log(`session ${id} came back ${session ? 'logged out' : 'missing'}`);
        } catch (err) {
            failed += 1;
            if (failed <= MAX_FAILURES_SHOWN) log(`session ${id} failed: ${redact(err?.message ?? err)}`);
        }
    };
    const worker = async () => {
        while (next < ids.length) {
            const id = ids[next];
            next += 1;
            await restore(id);
        }
    };
    const cpuBefore = process.cpuUsage();
    from = process.hrtime.bigint();
    await Promise.all(Array.from({ length: Math.min(options.concurrency, ids.length) }, worker));
    const rehydrateS = seconds(from);
    const cpu = process.cpuUsage(cpuBefore);
    const rehydrateOps = storage.total() - listOps;
    if (failed > MAX_FAILURES_SHOWN) log(`${failed - MAX_FAILURES_SHOWN} more failures not shown`);
    log(`restored ${ok} of ${ids.length} in ${rehydrateS.toFixed(2)} s`);

    from = process.hrtime.bigint();
    await clearSessionFromStorageAll(storage);
    const clearMs = seconds(from) * 1000;
    const clearOps = storage.total() - listOps - rehydrateOps;

    process.stdout.write(`${JSON.stringify({
        contender: 'inrupt',
        store: 'memory',
        n: ids.length,
        listed: ids.length,
        ok,
        failed,
        list_ms: listMs,
        rehydrate_s: rehydrateS,
        clear_ms: clearMs,
        cpu_s: (cpu.user + cpu.system) / 1e6,
        storage_ops: { list: listOps, rehydrate: rehydrateOps, clear: clearOps },
    })}\n`);
    // Every restored session keeps a refresh timer (keepAlive); they would keep node running.
    process.exit(0);
}

main().catch((err) => {
    log(`failed: ${redact(err?.message ?? err)}`);
    process.exit(1);
});
