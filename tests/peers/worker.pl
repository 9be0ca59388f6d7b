#!/usr/bin/perl
# Interop peer: a Perl Gearman::Worker driven by tests/common/peer.rs (see tests/peers/README.md).
use strict;
use warnings;
use Gearman::Worker;

$| = 1;
my ($host, $port) = @ARGV;

sub out { print "$_[0]\n" }

# Gearman::Worker grabs with GRAB_JOB, so it never sees a job's unique ("-" below).
sub started {
    my ($job) = @_;
    out("job $job->{func} - " . unpack('H*', $job->arg));
}

my $worker = Gearman::Worker->new(job_servers => ["$host:$port"]);
$worker->register_function(bin => sub {
    started($_[0]);
    return scalar reverse $_[0]->arg;
});
$worker->register_function(events => sub {
    my ($job) = @_;
    started($job);
    $worker->send_work_data($job, "\0d1\xff");
    $worker->send_work_warning($job, 'w1');
    # Gearman::Worker::send_work_status drops the denominator; Gearman::Job::set_status does not.
    $job->set_status(1, 3);
    $worker->send_work_data($job, 'd2');
    $job->set_status(2, 3);
    $worker->send_work_warning($job, "\0w2");
    $job->set_status(3, 3);
    return "done\0";
});
$worker->register_function(fail => sub {
    started($_[0]);
    return undef;
});
$worker->register_function(exception => sub {
    started($_[0]);
    die "boom\n";
});
$worker->register_function(hold => sub {
    my ($job) = @_;
    started($job);
    $job->set_status(1, 4);
    out('holding');
    my $line = <STDIN>;
    return 'held';
});
$worker->work while 1;
