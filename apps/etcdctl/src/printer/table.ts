import type { etcdserverpb } from "@etcd-ts/proto";
import type { Io } from "../ctl/io.js";
import {
  ENDPOINT_HASHKV_HEADER,
  ENDPOINT_HEALTH_HEADER,
  ENDPOINT_STATUS_HEADER,
  endpointHashKVRows,
  endpointHealthRows,
  endpointStatusRows,
  MEMBER_LIST_HEADER,
  memberListRows,
} from "./rows.js";
import { nilPrinterPanic, unsupported, type EpHashKV, type EpHealth, type EpStatus, type Printer } from "./printer.js";
import type { DBStatus } from "../ctl/snapshot_status.js";
import { DB_STATUS_HEADER, dbStatusRow } from "./rows.js";

/** tableHeader is tablewriter's header formatting: "_" to space, trimmed, upper case. */
function tableHeader(h: string): string {
  const t = h.replace(/_/g, " ").trim();
  return (t === "" && h !== "" ? " " : t).toUpperCase();
}

/**
 * renderTable draws an ASCII table like olekukonko/tablewriter with etcdctl's settings:
 * centered upper-case header, right-aligned cells, borders on every side.
 */
export function renderTable(header: string[], rows: string[][]): string {
  const hdr = header.map(tableHeader);
  const width = (s: string): number => [...s].length;
  const widths = hdr.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ""))));
  const sep = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+\n";
  const center = (s: string, w: number): string => {
    const gap = w - width(s);
    const left = Math.floor(gap / 2);
    return " ".repeat(left) + s + " ".repeat(gap - left);
  };
  let out = sep;
  out += "|" + hdr.map((h, i) => ` ${center(h, widths[i] as number)} `).join("|") + "|\n";
  out += sep;
  for (const r of rows) {
    out += "|" + widths.map((w, i) => ` ${" ".repeat(w - width(r[i] ?? ""))}${r[i] ?? ""} `).join("|") + "|\n";
  }
  out += sep;
  return out;
}

/** TablePrinter is `-w table`, available for the endpoint commands only (as in etcdctl). */
export class TablePrinter implements Printer {
  private readonly io: Io;

  constructor(io: Io) {
    this.io = io;
  }

  get(_r: etcdserverpb.RangeResponse): void {
    unsupported("table");
  }

  put(_r: etcdserverpb.PutResponse): void {
    unsupported("table");
  }

  del(_r: etcdserverpb.DeleteRangeResponse): void {
    unsupported("table");
  }

  txn(_r: etcdserverpb.TxnResponse): void {
    unsupported("table");
  }

  endpointStatus(list: EpStatus[]): void {
    this.io.out(renderTable(ENDPOINT_STATUS_HEADER, endpointStatusRows(list)));
  }

  endpointHealth(list: EpHealth[]): void {
    this.io.out(renderTable(ENDPOINT_HEALTH_HEADER, endpointHealthRows(list)));
  }

  dbStatus(s: DBStatus): void {
    this.io.out(renderTable(DB_STATUS_HEADER, [dbStatusRow(s)]));
  }

  endpointHashKV(list: EpHashKV[]): void {
    this.io.out(renderTable(ENDPOINT_HASHKV_HEADER, endpointHashKVRows(list)));
  }

  memberAdd(_r: etcdserverpb.MemberAddResponse): void {
    unsupported("table");
  }

  memberRemove(_id: bigint, _r: etcdserverpb.MemberRemoveResponse): void {
    unsupported("table");
  }

  memberUpdate(_id: bigint, _r: etcdserverpb.MemberUpdateResponse): void {
    unsupported("table");
  }

  memberPromote(_id: bigint, _r: etcdserverpb.MemberPromoteResponse): void {
    nilPrinterPanic();
  }

  memberList(r: etcdserverpb.MemberListResponse): void {
    this.io.out(renderTable(MEMBER_LIST_HEADER, memberListRows(r)));
  }

  moveLeader(_leader: bigint, _target: bigint, _r: etcdserverpb.MoveLeaderResponse): void {
    unsupported("table");
  }

  alarm(_r: etcdserverpb.AlarmResponse): void {
    unsupported("table");
  }

  watch(_r: etcdserverpb.WatchResponse): void {
    unsupported("table");
  }

  grant(_r: etcdserverpb.LeaseGrantResponse): void {
    unsupported("table");
  }

  revoke(_id: bigint, _r: etcdserverpb.LeaseRevokeResponse): void {
    unsupported("table");
  }

  keepAlive(_r: etcdserverpb.LeaseKeepAliveResponse): void {
    unsupported("table");
  }

  timeToLive(_r: etcdserverpb.LeaseTimeToLiveResponse, _keys: boolean): void {
    unsupported("table");
  }

  leases(_r: etcdserverpb.LeaseLeasesResponse): void {
    unsupported("table");
  }
}
