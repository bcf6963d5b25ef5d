// The command line both node contenders take: --records <file.json> --concurrency C.
export class UsageError extends Error {}

export function parseClientArgs(argv) {
    const options = { concurrency: 1 };
    for (let i = 0; i < argv.length; i += 1) {
        const value = () => {
            if (i + 1 >= argv.length) throw new UsageError(`${argv[i]} needs a value`);
            i += 1;
            return argv[i];
        };
        switch (argv[i]) {
        case '--records': options.records = value(); break;
        case '--concurrency': options.concurrency = Number(value()); break;
        default: throw new UsageError(`unknown argument ${argv[i]}`);
        }
    }
    if (!options.records) throw new UsageError('--records is required');
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
        throw new UsageError('--concurrency must be a positive integer');
    }
    return options;
}
