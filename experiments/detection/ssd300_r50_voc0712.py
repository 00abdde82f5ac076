# SSD300 with a ResNet-50 backbone on Pascal VOC 07+12: the CutMix paper's Table 10 protocol (Sec. 4.2.3).
# layer2's output (38x38 at 300 px) feeds the first prediction level, then layer3 (19x19), layer4 (10x10) and
# three extra levels (5, 3, 1); batch 32, lr 1e-3, 120k iterations, x0.1 at 80k and 100k; VOC07 11-point mAP.
# The backbone weights are the harness's own ImageNet run (converted and loaded by run_all.py, checked key by
# key); nothing is downloaded (init_cfg=None).
# Not given by the paper, kept at MMDetection's SSD300-VOC defaults: augmentation, anchors, weight decay 5e-4,
# the 500-iteration warm-up; the BN statistics stay frozen as in the Faster R-CNN protocol.
_base_ = ['mmdet::pascal_voc/ssd300_voc0712.py']
custom_imports = dict(imports=['harness.detection.mmdet_modules'], allow_failed_imports=False)

max_iters = 120000
channels = (512, 1024, 2048, 512, 256, 256)
model = dict(
    # timm's ImageNet normalisation, RGB: the harness's backbones were trained so
    data_preprocessor=dict(std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True, type='ResNet', depth=50, num_stages=4, out_indices=(1, 2, 3), frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch', init_cfg=None),
    neck=dict(in_channels=channels[:3], out_channels=channels, level_strides=(2, 2, 1), level_paddings=(1, 1, 0),
              l2_norm_scale=None),
    # mmdet 3.3.0's SSDHead cannot predict (open-mmlab/mmdetection#11305): the one-line fix, in harness/detection/fixes.py
    bbox_head=dict(type='PredictingSSDHead', in_channels=channels))

train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['dataset_type'],
        datasets=[
            dict(type='VOCDataset', data_root={{_base_.data_root}}, ann_file=f'{year}/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root=f'{year}/'), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline={{_base_.train_pipeline}})
            for year in ('VOC2007', 'VOC2012')
        ]))
val_evaluator = dict(_delete_=True, type='VOC07Metric')
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=5e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[80000, 100000], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
