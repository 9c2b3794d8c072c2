import { ProviderError } from '../provider.ts';

export type FailureClass = 'capacity' | 'throttling' | 'auth' | 'not-found' | 'network' | 'other';

/** A provider error that also says which class of AWS failure it is. */
export class AwsProviderError extends ProviderError {
  constructor(message: string, retryable: boolean, readonly kind: FailureClass, readonly code: string) {
    super(message, retryable);
  }
}

const CAPACITY = new Set(['InsufficientInstanceCapacity', 'InsufficientHostCapacity', 'InsufficientCapacity', 'InstanceLimitExceeded', 'VcpuLimitExceeded', 'InsufficientFreeAddressesInSubnet']);
const THROTTLING = new Set(['RequestLimitExceeded', 'Throttling', 'ThrottlingException', 'TooManyRequestsException', 'LimitExceededException', 'RequestThrottled']);
const AUTH = new Set(['UnauthorizedOperation', 'AuthFailure', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'AccessDenied', 'AccessDeniedException', 'ExpiredToken', 'UnrecognizedClientException', 'OptInRequired', 'Blocked']);
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

/**
 * Turns whatever the AWS SDK threw into a short message a person can act on, classified as
 * capacity, throttling, auth, not-found or network (the SDK has already retried what it retries).
 */
export function classifyAwsError(err: unknown, what: string, ctx: { instanceType?: string; endpoint?: string; region?: string } = {}): AwsProviderError {
  const e = (err ?? {}) as { name?: string; code?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const code = e.name && e.name !== 'Error' ? e.name : e.code ?? 'UnknownError';
  const status = e.$metadata?.httpStatusCode;
  const detail = (e.message ?? '').split('\n')[0]!.slice(0, 200);
  if (CAPACITY.has(code)) {
    return new AwsProviderError(`EC2 has no capacity to ${what} (${code}${ctx.instanceType ? ` for ${ctx.instanceType}` : ''}): retry later or choose another instance type or availability zone`, true, 'capacity', code);
  }
  if (THROTTLING.has(code) || status === 429) {
    return new AwsProviderError(`EC2 is throttling requests (${code}) while trying to ${what}: too many calls to the AWS API; it will be retried with backoff`, true, 'throttling', code);
  }
  if (AUTH.has(code) || status === 401 || status === 403) {
    return new AwsProviderError(`AWS refused the credentials or permissions to ${what} (${code}): check the IAM role/keys of the Trellis API${ctx.region ? ` in ${ctx.region}` : ''}`, false, 'auth', code);
  }
  if (/\.NotFound$|NotFound$|^InvalidInstanceID\.Malformed$/.test(code)) {
    return new AwsProviderError(`EC2 could not find what it needs to ${what} (${code}: ${detail}): check the configured image, subnet and instance ids`, false, 'not-found', code);
  }
  if (NETWORK.has(code) || (e.code !== undefined && NETWORK.has(e.code)) || status === undefined && /socket|network|connect|timed? ?out/i.test(detail)) {
    return new AwsProviderError(`cannot reach EC2${ctx.endpoint ? ` at ${ctx.endpoint}` : ''} to ${what} (${code}): check the network path and TRELLIS_AWS_ENDPOINT/AWS_REGION`, true, 'network', code);
  }
  if (e.$fault === 'server' || (status !== undefined && status >= 500)) {
    return new AwsProviderError(`EC2 had an internal error (HTTP ${status ?? '5xx'}, ${code}) while trying to ${what}: it will be retried`, true, 'network', code);
  }
  return new AwsProviderError(`EC2 rejected the request to ${what} (${code}: ${detail})`, false, 'other', code);
}
