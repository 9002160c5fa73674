import { hexId } from "../ids.js";

/** RATE_QUEUE is how many recent append requests the rates are computed over (etcd's statsQueue capacity). */
const RATE_QUEUE = 200;

/** RateQueue is etcd's statsQueue: the last RATE_QUEUE requests' times (ms) and sizes. */
class RateQueue {
  private readonly times: number[] = [];
  private readonly sizes: number[] = [];
  private total = 0;

  insert(at: number, size: number): void {
    this.times.push(at);
    this.sizes.push(size);
    this.total += size;
    if (this.times.length > RATE_QUEUE) {
      this.times.shift();
      this.total -= this.sizes.shift() ?? 0;
    }
  }

  /** rate is requests and bytes per second over the queue; 0, 0 once the newest is over a second old. */
  rate(now: number): [number, number] {
    const first = this.times[0];
    const last = this.times[this.times.length - 1];
    if (first === undefined || last === undefined) return [0, 0];
    if (now - last > 1000) {
      this.times.length = 0;
      this.sizes.length = 0;
      this.total = 0;
      return [0, 0];
    }
    const span = (last - first) / 1000;
    return [this.times.length / span, this.total / span];
  }
}

/** goDuration formats ms as Go's time.Duration.String (e.g. "1m2.5s", "350ms"). */
export function goDuration(ms: number): string {
  if (ms === 0) return "0s";
  const ns = Math.round(ms * 1e6);
  if (ns < 1000) return `${ns}ns`;
  if (ns < 1e6) return `${trim((ns / 1e3).toFixed(3))}µs`;
  if (ns < 1e9) return `${trim((ns / 1e6).toFixed(6))}ms`;
  let s = ns / 1e9;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const sec = `${trim(s.toFixed(9))}s`;
  return h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
}

const trim = (x: string): string => (x.includes(".") ? x.replace(/0+$/, "").replace(/\.$/, "") : x);

/** goTimeNano formats ms since the epoch as Go's time.Time JSON in UTC (RFC 3339 with the fraction's trailing zeros cut). */
function goTimeNano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.?0*Z$/, "Z");
}

/** RaftState names raft's states as Go's raft.StateType prints them. */
export type RaftStateName = "StateFollower" | "StateCandidate" | "StateLeader" | "StatePreCandidate";

/**
 * ServerStats is etcd's v2 server stats (/v2/stats/self): this member's state, its current
 * leader and since when, and the append requests it received (as a follower) and sent (as
 * the leader), with their rates over the last 200 of each. Sizes are the entries' bytes.
 */
export class ServerStats {
  private state: RaftStateName = "StateFollower";
  private leader = "";
  private leaderSince: number;
  private recvCount = 0;
  private sendCount = 0;
  private readonly recv = new RateQueue();
  private readonly send = new RateQueue();

  constructor(
    private readonly name: string,
    private readonly id: bigint,
    private readonly startTime: number,
    private readonly now: () => number = Date.now,
  ) {
    this.leaderSince = startTime;
  }

  /** recvAppend: an append request from `leader` came in (etcd's RecvAppendReq). */
  recvAppend(leader: bigint, size: number): void {
    const now = this.now();
    this.state = "StateFollower";
    const name = hexId(leader);
    if (name !== this.leader) {
      this.leader = name;
      this.leaderSince = now;
    }
    this.recv.insert(now, size);
    this.recvCount++;
  }

  /** sendAppend: this member sent an append request (etcd's SendAppendReq). */
  sendAppend(size: number): void {
    this.becomeLeader();
    this.send.insert(this.now(), size);
    this.sendCount++;
  }

  /** becomeLeader: this member became the leader. */
  becomeLeader(): void {
    if (this.state === "StateLeader") return;
    this.state = "StateLeader";
    this.leader = hexId(this.id);
    this.leaderSince = this.now();
  }

  /** json is the /v2/stats/self body (Go's field order; zero rates left out). */
  json(): string {
    const now = this.now();
    const [sendPkg, sendBw] = this.send.rate(now);
    const [recvPkg, recvBw] = this.recv.rate(now);
    const o: Record<string, unknown> = {
      name: this.name,
      id: hexId(this.id),
      state: this.state,
      startTime: goTimeNano(this.startTime),
      leaderInfo: { leader: this.leader, uptime: goDuration(now - this.leaderSince), startTime: goTimeNano(this.leaderSince) },
      recvAppendRequestCnt: this.recvCount,
    };
    if (recvPkg !== 0) o["recvPkgRate"] = recvPkg;
    if (recvBw !== 0) o["recvBandwidthRate"] = recvBw;
    o["sendAppendRequestCnt"] = this.sendCount;
    if (sendPkg !== 0) o["sendPkgRate"] = sendPkg;
    if (sendBw !== 0) o["sendBandwidthRate"] = sendBw;
    return JSON.stringify(o);
  }
}

/** FollowerStats are one follower's latencies (ms) and send counts (etcd's FollowerStats). */
class FollowerStats {
  current = 0;
  average = 0;
  private averageSquare = 0;
  standardDeviation = 0;
  minimum = 2 ** 63;
  maximum = 0;
  fail = 0;
  success = 0;

  succ(ms: number): void {
    const total = this.success * this.average;
    const totalSquare = this.success * this.averageSquare;
    this.success++;
    this.current = ms;
    if (ms > this.maximum) this.maximum = ms;
    if (ms < this.minimum) this.minimum = ms;
    this.average = (total + ms) / this.success;
    this.averageSquare = (totalSquare + ms * ms) / this.success;
    this.standardDeviation = Math.sqrt(Math.max(0, this.averageSquare - this.average * this.average));
  }

  toJSON(): unknown {
    return {
      latency: { current: this.current, average: this.average, standardDeviation: this.standardDeviation, minimum: this.minimum, maximum: this.maximum },
      counts: { fail: this.fail, success: this.success },
    };
  }
}

/**
 * LeaderStats is etcd's v2 leader stats (/v2/stats/leader): per follower, how many append
 * requests went out and how many the transport dropped, and how long handing each to the
 * transport took (ms: current, average, standard deviation, minimum, maximum), as etcd times
 * its stream writes.
 */
export class LeaderStats {
  private readonly followers = new Map<bigint, FollowerStats>();

  constructor(private readonly id: bigint) {}

  private follower(id: bigint): FollowerStats {
    let f = this.followers.get(id);
    if (f === undefined) this.followers.set(id, (f = new FollowerStats()));
    return f;
  }

  succ(id: bigint, ms: number): void {
    this.follower(id).succ(ms);
  }

  fail(id: bigint): void {
    this.follower(id).fail++;
  }

  json(): string {
    const followers: Record<string, unknown> = {};
    for (const [id, f] of this.followers) followers[hexId(id)] = f;
    return JSON.stringify({ leader: hexId(this.id), followers });
  }
}

/** StoreOp names the v2 store operations StoreStats counts. */
export type StoreOp = "gets" | "sets" | "delete" | "update" | "create" | "compareAndSwap" | "compareAndDelete";

/**
 * StoreStats is etcd's v2 store stats (/v2/stats/store): successes and failures per operation,
 * expirations, and the v2 watches open. As in etcd, the writes and expirations are counted as
 * each member applies them (a watch of the v2 tree, see index.ts); gets and failed writes are
 * counted by the member that served them (etcd's failed writes go through raft and count on
 * every member).
 */
export class StoreStats {
  private readonly counts = new Map<string, number>();
  /** watchers is the number of v2 watches open on this member. */
  watchers = 0;

  count(op: StoreOp, ok: boolean): void {
    const k = `${op}${ok ? "Success" : "Fail"}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  json(): string {
    const c = (k: string): number => this.counts.get(k) ?? 0;
    return JSON.stringify({
      getsSuccess: c("getsSuccess"),
      getsFail: c("getsFail"),
      setsSuccess: c("setsSuccess"),
      setsFail: c("setsFail"),
      deleteSuccess: c("deleteSuccess"),
      deleteFail: c("deleteFail"),
      updateSuccess: c("updateSuccess"),
      updateFail: c("updateFail"),
      createSuccess: c("createSuccess"),
      createFail: c("createFail"),
      compareAndSwapSuccess: c("compareAndSwapSuccess"),
      compareAndSwapFail: c("compareAndSwapFail"),
      compareAndDeleteSuccess: c("compareAndDeleteSuccess"),
      compareAndDeleteFail: c("compareAndDeleteFail"),
      expireCount: c("expireCount"),
      watchers: this.watchers,
    });
  }

  expired(): void {
    this.counts.set("expireCount", (this.counts.get("expireCount") ?? 0) + 1);
  }
}
