// Original file: proto/cri/api.proto


/**
 * Subscription to container events.
 */
export interface GetEventsRequest {
}

/**
 * Subscription to container events.
 */
export interface GetEventsRequest__Output {
}
