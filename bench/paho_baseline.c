/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Baseline for bench/cloud.sh: a raw Paho MQTT C async client that publishes the same
 * frames as the agent (a TSL_EVENT frame per message) to the same broker and topic at
 * QoS 1, with the same in-flight window, and reports messages per second from the first
 * send to the last PUBACK. With COUNT 0 (bench/start.sh) it only connects and prints the
 * wall-clock time of the CONNACK (seconds since the epoch, CLOCK_REALTIME), for the caller to
 * subtract the time it started the process at. PASSWORD, when given, is sent with an empty
 * user name, as the agent does. With PAHO_TRACE_ERROR=1 in the environment, Paho's trace
 * level is set to ERROR first, as the agent sets it (Paho then stops recording every function
 * entry and exit). Usage: paho_baseline URI CLIENTID TOPIC COUNT WINDOW PAYLOAD_HEX [PASSWORD]
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <semaphore.h>

#include <MQTTAsync.h>

static _Atomic int connected;
static struct timespec connected_at; /* CLOCK_REALTIME of the CONNACK */
static _Atomic int acked;
static sem_t slots; /* free places in the in-flight window */

static void on_connect(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    clock_gettime(CLOCK_REALTIME, &connected_at);
    connected = 1;
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *r)
{
    (void)ctx;
    fprintf(stderr, "connect failed: %d\n", r ? r->code : -1);
    exit(1);
}

static void on_ack(void *ctx, MQTTAsync_successData *r)
{
    (void)ctx;
    (void)r;
    acked++;
    sem_post(&slots);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s URI CLIENTID TOPIC COUNT WINDOW PAYLOAD_HEX [PASSWORD]\n",
                argv[0]);
        return 2;
    }
    int count = atoi(argv[4]);
    int window = atoi(argv[5]);
    size_t n = strlen(argv[6]) / 2;
    unsigned char *payload = malloc(n);
    for (size_t i = 0; i < n; i++) {
        sscanf(argv[6] + 2 * i, "%2hhx", &payload[i]);
    }
    const char *trace_error = getenv("PAHO_TRACE_ERROR");
    if (trace_error != NULL && strcmp(trace_error, "1") == 0) {
        MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
    }
    MQTTAsync client;
    MQTTAsync_create(&client, argv[1], argv[2], MQTTCLIENT_PERSISTENCE_NONE, NULL);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    o.cleansession = 1;
    o.keepAliveInterval = 120;
    o.maxInflight = window;
    o.onSuccess = on_connect;
    o.onFailure = on_connect_fail;
    if (argc == 8) {
        o.username = "";
        o.password = argv[7];
    }
    MQTTAsync_connect(client, &o);
    while (!connected) {
        usleep(1000);
    }
    if (count == 0) {
        printf("%lld.%06ld\n", (long long)connected_at.tv_sec, connected_at.tv_nsec / 1000);
        MQTTAsync_disconnect(client, NULL);
        MQTTAsync_destroy(&client);
        free(payload);
        return 0;
    }
    sem_init(&slots, 0, (unsigned)window);
    double t0 = now_s();
    for (int sent = 0; sent < count; sent++) {
        sem_wait(&slots);
        MQTTAsync_message m = MQTTAsync_message_initializer;
        m.payload = payload;
        m.payloadlen = (int)n;
        m.qos = 1;
        MQTTAsync_responseOptions r = MQTTAsync_responseOptions_initializer;
        r.onSuccess = on_ack;
        while (MQTTAsync_sendMessage(client, argv[3], &m, &r) != MQTTASYNC_SUCCESS) {
            usleep(100);
        }
    }
    while (acked < count) {
        sem_wait(&slots);
    }
    double dt = now_s() - t0;
    printf("%.0f\n", count / dt);
    MQTTAsync_disconnect(client, NULL);
    MQTTAsync_destroy(&client);
    free(payload);
    return 0;
}
