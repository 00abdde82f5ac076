# Rehearsal scale of the paper's SSD300 (../ssd300_r50_voc0712.py) around a released ResNet-50 given with
# --backbone: the paper's detector, data, 300 px pipelines, anchors and evaluator, for 2 iterations of batch 4,
# tested on the first 4 test images: the path a cluster job will run, on a CPU in minutes. Its mAP means nothing.
_base_ = ['../ssd300_r50_voc0712.py']

max_iters = 2
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(indices=4))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=max_iters), logger=dict(interval=1))
