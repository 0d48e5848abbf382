/**
 * The lease table in DynamoDB: item encoding and the conditional writes the lease manager makes.
 * Every change is conditional on the item's `leaseCounter` (and its owner where that matters), so
 * two workers can never both win the same change; a refused condition comes back as 'conflict',
 * never as an exception. Throttling and network failures are retried (withRetry) and then thrown.
 *
 * A retried conditional write is ambiguous: the first attempt may have landed with its answer
 * lost, and the retry is then refused by our own write. So a refusal after a retry reads the item
 * back and counts as success when the item shows exactly what we wrote.
 */
import {
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { awsErrorName } from '../../../common/src/kinesis.js';
import { sleep } from '../../../common/src/retry.js';
import { DEFAULT_RETRY, isConditionalFailure, withRetry, type RetryPolicy } from './dynamo.js';
import { ATTR, type Lease } from './types.js';

type Item = Record<string, AttributeValue>;
export type WriteResult = 'ok' | 'conflict';

const n = (value: number): AttributeValue => ({ N: String(value) });
const s = (value: string): AttributeValue => ({ S: value });

function strings(value: AttributeValue | undefined): string[] {
  if (!value) return [];
  if (value.SS) return [...value.SS].sort();
  if (value.L) return value.L.flatMap((v) => (v.S !== undefined ? [v.S] : [])).sort();
  if (value.S !== undefined) return [value.S];
  return [];
}

function num(value: AttributeValue | undefined): number | undefined {
  return value?.N === undefined ? undefined : Number(value.N);
}

export function decodeLease(item: Item): Lease {
  return {
    leaseKey: item[ATTR.key]?.S ?? '',
    leaseOwner: item[ATTR.owner]?.S,
    leaseCounter: num(item[ATTR.counter]) ?? 0,
    checkpoint: item[ATTR.checkpoint]?.S ?? '',
    ownerSwitchesSinceCheckpoint: num(item[ATTR.ownerSwitches]) ?? 0,
    parentShardIds: strings(item[ATTR.parents]),
    childShardIds: strings(item[ATTR.children]),
    checkpointWatermarkMs: num(item[ATTR.watermark]),
    checkpointAtMs: num(item[ATTR.checkpointAt]),
    checkpointStateId: item[ATTR.stateId]?.S,
  };
}

/** A new, free lease. DynamoDB sets cannot be empty, so a shard without parents has no parentShardId. */
export function encodeNewLease(shardId: string, checkpoint: string, parents: readonly string[]): Item {
  return {
    [ATTR.key]: s(shardId),
    [ATTR.counter]: n(0),
    [ATTR.checkpoint]: s(checkpoint),
    [ATTR.ownerSwitches]: n(0),
    ...(parents.length > 0 ? { [ATTR.parents]: { SS: [...parents] } } : {}),
  };
}

export class LeaseTable {
  readonly name: string;
  #client: DynamoDBClient;
  #retry: RetryPolicy;

  constructor(client: DynamoDBClient, name: string, retry: RetryPolicy = DEFAULT_RETRY) {
    this.#client = client;
    this.name = name;
    this.#retry = retry;
  }

  /** Creates the table if missing (on-demand, hash key leaseKey) and waits until it is ACTIVE. */
  async ensure(timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let created = false;
    for (;;) {
      let status: string | undefined;
      try {
        const { Table } = await withRetry(() => this.#client.send(new DescribeTableCommand({ TableName: this.name })), this.#retry);
        const hash = Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
        if (hash !== ATTR.key || Table?.KeySchema?.length !== 1) {
          throw new Error(`table ${this.name} exists with another key schema (hash key ${hash}); it is not a lease table`);
        }
        status = Table?.TableStatus;
      } catch (error) {
        if (awsErrorName(error) !== 'ResourceNotFoundException' || created) throw error;
        created = true;
        try {
          await withRetry(
            () =>
              this.#client.send(
                new CreateTableCommand({
                  TableName: this.name,
                  BillingMode: 'PAY_PER_REQUEST',
                  AttributeDefinitions: [{ AttributeName: ATTR.key, AttributeType: 'S' }],
                  KeySchema: [{ AttributeName: ATTR.key, KeyType: 'HASH' }],
                }),
              ),
            this.#retry,
          );
        } catch (e) {
          // Another worker created it first.
          if (awsErrorName(e) !== 'ResourceInUseException') throw e;
        }
        continue;
      }
      if (status === 'ACTIVE') return;
      if (Date.now() > deadline) throw new Error(`table ${this.name} is ${status}, not ACTIVE, after ${timeoutMs} ms`);
      await sleep(250);
    }
  }

  /** Every lease, read with strong consistency (expiry is judged on what the scan saw). */
  async scan(): Promise<Lease[]> {
    const leases: Lease[] = [];
    let start: Item | undefined;
    do {
      const page = await withRetry(
        () => this.#client.send(new ScanCommand({ TableName: this.name, ConsistentRead: true, ...(start ? { ExclusiveStartKey: start } : {}) })),
        this.#retry,
      );
      for (const item of page.Items ?? []) leases.push(decodeLease(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return leases.sort((a, b) => (a.leaseKey < b.leaseKey ? -1 : a.leaseKey > b.leaseKey ? 1 : 0));
  }

  async get(shardId: string): Promise<Lease | undefined> {
    const { Item } = await withRetry(
      () => this.#client.send(new GetItemCommand({ TableName: this.name, Key: { [ATTR.key]: s(shardId) }, ConsistentRead: true })),
      this.#retry,
    );
    return Item ? decodeLease(Item) : undefined;
  }

  /** Creates a free lease unless one exists already ('conflict'). */
  async create(shardId: string, checkpoint: string, parents: readonly string[]): Promise<WriteResult> {
    const landed = (l: Lease | undefined) => l !== undefined;
    return this.#conditional(shardId, landed, () =>
      this.#client.send(
        new PutItemCommand({
          TableName: this.name,
          Item: encodeNewLease(shardId, checkpoint, parents),
          ConditionExpression: 'attribute_not_exists(#key)',
          ExpressionAttributeNames: { '#key': ATTR.key },
        }),
      ),
    );
  }

  /**
   * Sets the owner to `me` and moves the counter, if the lease is still as observed (counter and
   * owner, or no owner). Used to take a free or expired lease and to steal one.
   */
  claim(observed: Lease, me: string): Promise<WriteResult> {
    const next = observed.leaseCounter + 1;
    const switched = observed.leaseOwner !== me ? 1 : 0;
    return this.#update(
      observed.leaseKey,
      {
        UpdateExpression: 'SET #owner = :me, #counter = :next, #switches = if_not_exists(#switches, :zero) + :switched',
        ConditionExpression:
          observed.leaseOwner === undefined ? '#counter = :counter AND attribute_not_exists(#owner)' : '#counter = :counter AND #owner = :prev',
        ExpressionAttributeNames: { '#owner': ATTR.owner, '#counter': ATTR.counter, '#switches': ATTR.ownerSwitches },
        ExpressionAttributeValues: {
          ':me': s(me),
          ':next': n(next),
          ':counter': n(observed.leaseCounter),
          ':zero': n(0),
          ':switched': n(switched),
          ...(observed.leaseOwner === undefined ? {} : { ':prev': s(observed.leaseOwner) }),
        },
      },
      (l) => l?.leaseOwner === me && l.leaseCounter === next,
    );
  }

  /** Moves the counter of a lease `me` holds at `counter`. */
  renew(shardId: string, me: string, counter: number): Promise<WriteResult> {
    return this.#update(
      shardId,
      {
        UpdateExpression: 'SET #counter = :next',
        ConditionExpression: '#owner = :me AND #counter = :counter',
        ExpressionAttributeNames: { '#owner': ATTR.owner, '#counter': ATTR.counter },
        ExpressionAttributeValues: { ':me': s(me), ':counter': n(counter), ':next': n(counter + 1) },
      },
      (l) => l?.leaseOwner === me && l.leaseCounter === counter + 1,
    );
  }

  /** Writes a checkpoint on a lease `me` holds at `counter`; moves the counter and resets the owner switches. */
  checkpoint(
    shardId: string,
    me: string,
    counter: number,
    cp: { sequenceNumber: string; watermarkMs: number; checkpointAtMs: number; stateId?: string },
  ): Promise<WriteResult> {
    return this.#update(
      shardId,
      {
        UpdateExpression: `SET #counter = :next, #checkpoint = :cp, #watermark = :wm, #at = :at, #switches = :zero${cp.stateId ? ', #state = :state' : ' REMOVE #state'}`,
        ConditionExpression: '#owner = :me AND #counter = :counter',
        ExpressionAttributeNames: {
          '#owner': ATTR.owner,
          '#counter': ATTR.counter,
          '#checkpoint': ATTR.checkpoint,
          '#watermark': ATTR.watermark,
          '#at': ATTR.checkpointAt,
          '#switches': ATTR.ownerSwitches,
          '#state': ATTR.stateId,
        },
        ExpressionAttributeValues: {
          ':me': s(me),
          ':counter': n(counter),
          ':next': n(counter + 1),
          ':cp': s(cp.sequenceNumber),
          ':wm': n(cp.watermarkMs),
          ':at': n(cp.checkpointAtMs),
          ':zero': n(0),
          ...(cp.stateId ? { ':state': s(cp.stateId) } : {}),
        },
      },
      (l) => l?.leaseOwner === me && l.leaseCounter === counter + 1 && l.checkpoint === cp.sequenceNumber,
    );
  }

  /** Removes `me` as owner of a lease held at `counter` (and moves the counter). */
  release(shardId: string, me: string, counter: number): Promise<WriteResult> {
    return this.#update(
      shardId,
      {
        UpdateExpression: 'REMOVE #owner SET #counter = :next',
        ConditionExpression: '#owner = :me AND #counter = :counter',
        ExpressionAttributeNames: { '#owner': ATTR.owner, '#counter': ATTR.counter },
        ExpressionAttributeValues: { ':me': s(me), ':counter': n(counter), ':next': n(counter + 1) },
      },
      (l) => l?.leaseOwner === undefined && l?.leaseCounter === counter + 1,
    );
  }

  /**
   * Deletes a finished lease seen at `counter` (housekeeping: its children have long taken over).
   * Conditional on the counter and on SHARD_END, so a lease that changed since is left alone.
   */
  delete(shardId: string, counter: number): Promise<WriteResult> {
    return this.#conditional(
      shardId,
      (l) => l === undefined,
      () =>
        this.#client.send(
          new DeleteItemCommand({
            TableName: this.name,
            Key: { [ATTR.key]: s(shardId) },
            ConditionExpression: '#counter = :counter AND #checkpoint = :end',
            ExpressionAttributeNames: { '#counter': ATTR.counter, '#checkpoint': ATTR.checkpoint },
            ExpressionAttributeValues: { ':counter': n(counter), ':end': s('SHARD_END') },
          }),
        ),
    );
  }

  /**
   * Adds child shard ids to a lease seen at `counter`. The counter is the condition but is not
   * moved: this is bookkeeping, and moving it would make the holder's next renewal fail.
   */
  addChildren(shardId: string, counter: number, children: readonly string[]): Promise<WriteResult> {
    return this.#update(
      shardId,
      {
        UpdateExpression: 'ADD #children :children',
        ConditionExpression: '#counter = :counter',
        ExpressionAttributeNames: { '#counter': ATTR.counter, '#children': ATTR.children },
        ExpressionAttributeValues: { ':counter': n(counter), ':children': { SS: [...children] } },
      },
      (l) => l !== undefined && children.every((c) => l.childShardIds.includes(c)),
    );
  }

  #update(shardId: string, input: Omit<UpdateItemCommandInput, 'TableName' | 'Key'>, landed: (lease: Lease | undefined) => boolean): Promise<WriteResult> {
    return this.#conditional(shardId, landed, () =>
      this.#client.send(new UpdateItemCommand({ TableName: this.name, Key: { [ATTR.key]: s(shardId) }, ...input })),
    );
  }

  async #conditional(shardId: string, landed: (lease: Lease | undefined) => boolean, write: () => Promise<unknown>): Promise<WriteResult> {
    let retried = false;
    try {
      await withRetry(async (attempt) => {
        retried = attempt > 0;
        await write();
      }, this.#retry);
      return 'ok';
    } catch (error) {
      if (!isConditionalFailure(error)) throw error;
      if (retried && landed(await this.get(shardId))) return 'ok';
      return 'conflict';
    }
  }
}
