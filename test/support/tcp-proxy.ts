import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * How PostgreSQL goes away. `refuse`: the server is down (a restart, a crash); every connection
 * is closed and a new one is reset at once. `blackhole`: the network drops packets (a partition, a
 * failover behind a stale address); every connection is closed too, and a new one is accepted and
 * never answered, as if its SYN were lost, until `restore()` lets it through, as a SYN retransmitted
 * after the network healed would be.
 */
export type OutageMode = 'refuse' | 'blackhole';

interface Pair {
  client: Socket;
  upstream: Socket;
}

export interface CutOptions {
  /**
   * Leave the open connections open and silent for ever instead of closing them: the server behind
   * them is gone and no RST will ever come (a failover to another host). A client waiting for an
   * answer on one then waits until its own timeout, if it has one.
   */
  strand?: boolean;
}

/**
 * A TCP proxy on an ephemeral loopback port in front of one server (PostgreSQL by default), to take
 * that server away from one client without stopping it for the others that share it.
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<Pair>();
  private readonly held = new Set<Socket>();
  private readonly stranded = new Set<Socket>();
  private mode: OutageMode | undefined;
  port = 0;

  constructor(
    private readonly targetPort = 5432,
    private readonly targetHost = '127.0.0.1',
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** The same URL with its host and port moved to this proxy. */
  urlFor(url: string): string {
    const u = new URL(url);
    u.hostname = '127.0.0.1';
    u.port = String(this.port);
    return u.toString();
  }

  /** Closes every open connection (or strands it); new ones are reset or held until `restore()`. */
  cut(mode: OutageMode, options: CutOptions = {}): void {
    this.mode = mode;
    for (const pair of this.pairs) {
      if (options.strand) this.strand(pair);
      else this.close(pair);
    }
  }

  /** Forwards again, the held connections included. */
  restore(): void {
    this.mode = undefined;
    for (const client of this.held) {
      this.held.delete(client);
      if (!client.destroyed) this.forward(client);
    }
  }

  async stop(): Promise<void> {
    for (const pair of this.pairs) this.close(pair);
    for (const client of [...this.held, ...this.stranded]) client.destroy();
    this.held.clear();
    this.stranded.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.mode === 'refuse') {
      client.resetAndDestroy();
      return;
    }
    if (this.mode === 'blackhole') {
      // Not read: what the client sends (its startup message) waits in the socket for `restore()`.
      client.pause();
      this.held.add(client);
      client.once('close', () => this.held.delete(client));
      return;
    }
    this.forward(client);
  }

  private forward(client: Socket): void {
    const upstream = connect(this.targetPort, this.targetHost);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    upstream.on('error', () => undefined);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    const end = () => this.close(pair);
    client.once('close', end);
    upstream.once('close', end);
  }

  private strand(pair: Pair): void {
    this.pairs.delete(pair);
    pair.client.unpipe();
    pair.upstream.unpipe();
    pair.upstream.destroy();
    // Read and dropped: the client's writes succeed, and nothing ever answers them.
    pair.client.on('data', () => undefined);
    this.stranded.add(pair.client);
  }

  private close(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  }
}
