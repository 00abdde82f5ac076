# Smoke scale of the paper's SSD (../ssd300_r50_voc0712.py): the same detector around the harness's smoke
# stand-in for ResNet-50 (resnet_tiny: timm's 64-channel stem, then one basic block per stage, widths 16-128) at 128 px instead of 300, on the
# embedded VOC-layout set (VOC2007 only), for 60 CPU iterations. NOT comparable to the paper.
# Levels at 128 px: layer2 16x16, layer3 8x8, layer4 4x4, then 2x2, 1x1, 1x1; anchor sizes are SSD300-VOC's
# scaled by 128/300.
_base_ = ['../ssd300_r50_voc0712.py']

max_iters = 60
input_size = 128
channels = (32, 64, 128, 64, 64, 64)
model = dict(
    backbone=dict(type='StandInResNet', depth='tiny', stem_channels=64, base_channels=16),
    neck=dict(in_channels=channels[:3], out_channels=channels, level_strides=(2, 2, 1), level_paddings=(1, 1, 1)),
    bbox_head=dict(
        in_channels=channels,
        anchor_generator=dict(input_size=input_size, strides=[8, 16, 32, 64, 128, 128],
                              min_sizes=[13, 26, 47, 69, 91, 113], max_sizes=[26, 47, 69, 91, 113, 134])))

mean = [123.675, 116.28, 103.53]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Expand', mean=mean, to_rgb=True, ratio_range=(1, 2)),
    dict(type='MinIoURandomCrop', min_ious=(0.1, 0.3, 0.5, 0.7, 0.9), min_crop_size=0.3),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(input_size, input_size), keep_ratio=False),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True, type='VOCDataset', data_root={{_base_.data_root}}, ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'), filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[48], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=30), logger=dict(interval=20))
