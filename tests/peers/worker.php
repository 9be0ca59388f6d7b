<?php
// Interop peer: a PECL gearman worker driven by tests/common/peer.rs (see tests/peers/README.md).
[, $host, $port] = $argv;

function out(string $line): void { fwrite(STDOUT, $line . "\n"); }

$worker = new GearmanWorker();
$worker->addServer($host, (int) $port);
$started = function (GearmanJob $job): void {
    $unique = $job->unique() === '' ? '-' : bin2hex($job->unique());
    out("job {$job->functionName()} $unique " . bin2hex($job->workload()));
};
$worker->addFunction('bin', function (GearmanJob $job) use ($started) {
    $started($job);
    return strrev($job->workload());
});
$worker->addFunction('events', function (GearmanJob $job) use ($started) {
    $started($job);
    $job->sendData("\0d1\xff");
    $job->sendWarning('w1');
    $job->sendStatus(1, 3);
    $job->sendData('d2');
    $job->sendStatus(2, 3);
    $job->sendWarning("\0w2");
    $job->sendStatus(3, 3);
    return "done\0";
});
$worker->addFunction('fail', function (GearmanJob $job) use ($started) {
    $started($job);
    $job->sendFail();
});
$worker->addFunction('exception', function (GearmanJob $job) use ($started) {
    $started($job);
    $job->sendException('boom');
});
$worker->addFunction('hold', function (GearmanJob $job) use ($started) {
    $started($job);
    $job->sendStatus(1, 4);
    out('holding');
    fgets(STDIN);
    return 'held';
});
while ($worker->work()) {
}
fwrite(STDERR, 'work() ended: ' . $worker->returnCode() . ' ' . $worker->error() . "\n");
exit(1);
