import { etcdserverpb } from "@etcd-ts/proto";
import type { Backend, BatchTx } from "@etcd-ts/backend";

/** ALARM_PREFIX starts the backend key of every raised alarm (etcd's "alarm" bucket). */
export const ALARM_PREFIX = Buffer.from("alarm/");
const ALARM_PREFIX_END = Buffer.from("alarm0");

const { AlarmType } = etcdserverpb;

/**
 * AlarmStore holds the raised alarms, each an (alarm type, member ID) pair, as etcd's
 * v3alarm store does: changed only by applied Alarm requests, written into the member's
 * batch transaction under `alarm/<member id><type>`, loaded at start.
 */
export class AlarmStore {
  private readonly alarms = new Map<string, etcdserverpb.AlarmMember>();

  private constructor(private readonly tx: BatchTx) {}

  /** open loads the raised alarms from the backend. */
  static async open(backend: Backend, tx: BatchTx): Promise<AlarmStore> {
    const s = new AlarmStore(tx);
    for await (const chunk of backend.scanChunks({ gte: ALARM_PREFIX, lt: ALARM_PREFIX_END })) {
      for (const k of chunk.keys) {
        const m = decodeAlarmKey(k);
        s.alarms.set(k.toString("latin1"), m);
      }
    }
    return s;
  }

  /** activate raises alarm for member; it returns the alarm, or undefined if it was raised already. */
  activate(memberID: bigint, alarm: etcdserverpb.AlarmType): etcdserverpb.AlarmMember | undefined {
    const key = alarmKey(memberID, alarm);
    const k = key.toString("latin1");
    if (this.alarms.has(k)) return undefined;
    const m = { memberID, alarm };
    this.alarms.set(k, m);
    this.tx.put(key, Buffer.alloc(0));
    return m;
  }

  /** deactivate clears alarm for member; it returns the alarm, or undefined if it was not raised. */
  deactivate(memberID: bigint, alarm: etcdserverpb.AlarmType): etcdserverpb.AlarmMember | undefined {
    const key = alarmKey(memberID, alarm);
    const k = key.toString("latin1");
    const m = this.alarms.get(k);
    if (m === undefined) return undefined;
    this.alarms.delete(k);
    this.tx.del(key);
    return m;
  }

  /** get lists the raised alarms of one type (every type for NONE), ordered by member then type. */
  get(alarm: etcdserverpb.AlarmType = AlarmType.NONE): etcdserverpb.AlarmMember[] {
    const out: etcdserverpb.AlarmMember[] = [];
    for (const k of [...this.alarms.keys()].sort()) {
      const m = this.alarms.get(k) as etcdserverpb.AlarmMember;
      if (alarm === AlarmType.NONE || m.alarm === alarm) out.push({ ...m });
    }
    return out;
  }

  /** has reports whether an alarm of this type is raised by any member. */
  has(alarm: etcdserverpb.AlarmType): boolean {
    for (const m of this.alarms.values()) if (m.alarm === alarm) return true;
    return false;
  }
}

/** alarmKey is the backend key of an alarm: ALARM_PREFIX, the member ID (8 bytes BE), the alarm type (4 bytes BE). */
export function alarmKey(memberID: bigint, alarm: etcdserverpb.AlarmType): Buffer {
  const k = Buffer.alloc(ALARM_PREFIX.length + 12);
  ALARM_PREFIX.copy(k);
  k.writeBigUInt64BE(memberID, ALARM_PREFIX.length);
  k.writeInt32BE(alarm, ALARM_PREFIX.length + 8);
  return k;
}

/** decodeAlarmKey reads an alarm's backend key; it throws on a malformed key. */
export function decodeAlarmKey(k: Buffer): etcdserverpb.AlarmMember {
  if (k.length !== ALARM_PREFIX.length + 12) throw new Error(`alarm: malformed backend key ${k.toString("hex")}`);
  return { memberID: k.readBigUInt64BE(ALARM_PREFIX.length), alarm: k.readInt32BE(ALARM_PREFIX.length + 8) };
}

/**
 * alarmString renders an alarm as etcd does in Status errors and `etcdctl alarm list`
 * (gogo protobuf's compact text: zero fields left out, a space after each field).
 */
export function alarmString(m: etcdserverpb.AlarmMember): string {
  let s = "";
  if (m.memberID !== 0n) s += `memberID:${m.memberID} `;
  if (m.alarm !== AlarmType.NONE) s += `alarm:${AlarmType[m.alarm] ?? m.alarm} `;
  return s;
}
