// Types of @leither/sdk.

export declare class LeitherError extends Error {
  readonly status: number;
  /** Stable machine-readable code, e.g. `app_forbidden`, `no_such_key`. */
  readonly code: string;
  constructor(status: number, code: string, message: string);
}

export declare function configure(options: { base?: string }): void;

export type Permission = "storage" | "messages" | "profile.read" | "mimei.read";

export interface Manifest {
  name: string;
  version: string;
  description: string;
  icon: string | null;
  entry: string;
  permissions: Permission[];
  script_hashes: string[];
}

export interface AppInfo {
  id: string;
  data: string;
  manifest: Manifest;
  grants: Permission[];
}

export interface DirEntry {
  path: string;
  kind: "file" | "dir" | "mimei";
  size?: number;
  hash?: string;
  mimei?: string;
}

export interface DbEntry {
  key: string;
  /** A string, or bytes for values that are not UTF-8. */
  value: string | Uint8Array;
}

export interface DbRange {
  prefix?: string;
  start?: string;
  end?: string;
  limit?: number;
  /** The last `limit` keys of the range, in descending order. */
  reverse?: boolean;
}

export type BatchOp =
  | { op: "db_put"; key: string; value: string | unknown }
  | { op: "db_delete"; key: string }
  | { op: "file_put"; path: string; content: string | Uint8Array }
  | { op: "file_delete"; path: string };

export type TaskOp = { op: "db_put"; key: string; value: string } | { op: "db_delete"; key: string };

export interface Task {
  id: string;
  app: string;
  ops: TaskOp[];
  every_secs: number | null;
  next_run: number;
  runs: number;
  last_error: string | null;
}

export interface MimeiEvent {
  kind: "created" | "files_changed" | "db_changed" | "backup" | "released" | "rights_changed" | "lagged";
  id?: string;
  version?: number;
  missed?: number;
}

export declare const app: { info(): Promise<AppInfo> };

export declare const files: {
  read(path: string): Promise<Uint8Array>;
  readText(path: string): Promise<string>;
  write(path: string, data: string | Uint8Array | Blob): Promise<DirEntry>;
  delete(path: string): Promise<{ removed: number }>;
  list(path?: string, options?: { recursive?: boolean }): Promise<DirEntry[]>;
};

export declare const db: {
  get(key: string): Promise<string | null>;
  getJSON<T = unknown>(key: string): Promise<T | null>;
  put(key: string, value: string | unknown): Promise<void>;
  delete(key: string): Promise<boolean>;
  scan(range?: DbRange): Promise<DbEntry[]>;
};

export declare function batch(ops: BatchOp[]): Promise<{ applied: number }>;

export declare const tasks: {
  list(): Promise<Task[]>;
  schedule(task: { ops: TaskOp[]; delaySecs?: number; everySecs?: number }): Promise<Task>;
  cancel(id: string): Promise<null>;
};

export declare const mimei: {
  info(id: string): Promise<unknown>;
  list(id: string, path?: string, options?: { version?: string; recursive?: boolean }): Promise<DirEntry[]>;
  read(id: string, path: string, options?: { version?: string }): Promise<Uint8Array>;
  readText(id: string, path: string, options?: { version?: string }): Promise<string>;
  dbGet(id: string, key: string, options?: { version?: string }): Promise<string | null>;
  dbScan(id: string, range?: DbRange & { version?: string }): Promise<DbEntry[]>;
};

export declare const profile: { get(): Promise<unknown> };

export declare const messages: {
  conversations(): Promise<unknown>;
  list(user: string, page?: { before?: number; limit?: number }): Promise<unknown>;
  send(user: string, text: string): Promise<unknown>;
};

export declare const events: {
  subscribe(handler: (event: MimeiEvent) => void): () => void;
};

declare const sdk: {
  app: typeof app;
  files: typeof files;
  db: typeof db;
  batch: typeof batch;
  tasks: typeof tasks;
  mimei: typeof mimei;
  profile: typeof profile;
  messages: typeof messages;
  events: typeof events;
  configure: typeof configure;
  LeitherError: typeof LeitherError;
};
export default sdk;
