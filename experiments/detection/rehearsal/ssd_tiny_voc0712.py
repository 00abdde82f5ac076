# Rehearsal scale of the paper's SSD300 (../ssd300_r50_voc0712.py): the paper's data (VOC2007 + VOC2012 trainval,
# VOC2007 test), 300 px pipelines, anchors and evaluator around the harness's stand-in for ResNet-50
# (resnet_tiny, as the rehearsal's ImageNet runs train it: layer2-4 give the same 38/19/10 levels at 300 px with
# 32/64/128 channels), for 2 iterations of batch 4, tested on the first 4 test images. It finds layout and
# code faults; its mAP means nothing.
_base_ = ['../ssd300_r50_voc0712.py']

max_iters = 2
channels = (32, 64, 128, 64, 64, 64)
model = dict(
    backbone=dict(type='StandInResNet', depth='tiny', stem_channels=64, base_channels=16),
    neck=dict(in_channels=channels[:3], out_channels=channels),
    bbox_head=dict(in_channels=channels))

train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(indices=4))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[1], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=max_iters), logger=dict(interval=1))
